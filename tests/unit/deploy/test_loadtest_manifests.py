"""The Locust master and workers run the loadtest image's locustfile with options Locust accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.unit.deploy.manifests import ROOT, container, dockerfile_stages, find, named_port, render

# Locust monkey-patches the standard library with gevent when imported: parse in a process of its own.
_PARSE = ("import json, sys\nfrom locust.argument_parser import get_parser\n"
          "print(json.dumps(vars(get_parser().parse_args(sys.argv[1:])), default=str))")


def parse(args: list[str]) -> SimpleNamespace:
    """Locust's own command-line parser on `args` (exit 2 from argparse fails the test)."""
    result = subprocess.run([sys.executable, "-c", _PARSE, *args], capture_output=True, text=True, check=False,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return SimpleNamespace(**json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("deployment", ["locust-master", "locust-worker"])
def test_args_parse_and_name_the_image_locustfile(deployment: str) -> None:
    spec = container(render("loadtest"), deployment)
    options = parse(spec["args"])
    copies = [rest.split() for word, rest in dockerfile_stages()["loadtest"].instructions if word == "COPY"]
    assert ["loadtests/", "/opt/loadtests/"] in copies
    assert options.locustfile == "/opt/loadtests/locustfile.py"
    assert dockerfile_stages()["loadtest"].exec_form("ENTRYPOINT") == ["locust"]
    assert [e["name"] for e in spec["env"]] == ["LOADTEST_API_KEY"]


def test_master_targets_the_gateway_and_workers_find_the_master() -> None:
    objects = render("loadtest")
    master = parse(container(objects, "locust-master")["args"])
    worker = parse(container(objects, "locust-worker")["args"])
    gateway = find(render("overlays/gpu"), "Service", "gateway")
    port = gateway["spec"]["ports"][0]["port"]
    assert master.master
    assert master.host == f"http://gateway.{gateway['metadata']['namespace']}.svc:{port}"
    service = find(objects, "Service", "locust-master")
    assert worker.worker
    assert worker.master_host == service["metadata"]["name"]
    master_spec = container(objects, "locust-master")
    assert named_port(master_spec, "master") == worker.master_port == 5557
    assert named_port(master_spec, "web") == master.web_port


def test_the_locustfile_reads_the_key_the_manifests_pass() -> None:
    locustfile = ROOT / "loadtests" / "locustfile.py"
    assert 'os.environ.get("LOADTEST_API_KEY"' in locustfile.read_text()
    assert (ROOT / "loadtests" / "mix.toml").is_file()  # read beside the locustfile in the loadtest image
