"""The README's first command, run as the README runs it: `make serve` (set-up, training and archiving whatever is
missing, then TorchServe behind the gateway), then the README's own curl commands against it, the playground and
the API docs, then SIGTERM to its process group. Only the ports differ from the README's (free ones, so that the
test never collides with a stack already running); they are set the way a user sets them, in the environment."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.modelserver import stop
from tests.servers import ROOT, free_ports, model_server_env, settings_for, wait_until_ready

README = (ROOT / "README.md").read_text(encoding="utf-8")
README_URL = "http://127.0.0.1:8000"
# `make serve` trains and archives what is missing first: on a fresh clone that is every quick-profile model.
READY_WITHIN_S = 1800


def readme_curls() -> list[tuple[list[str], list[str]]]:
    """Each `curl` of the README's sh blocks, as argv, with the `# ` lines that follow it (the output it shows)."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("curl "):
                continue
            command, j = line, i
            while command.endswith("\\"):
                j += 1
                command = command[:-1] + lines[j]
            shown = [rest.removeprefix("# ") for rest in lines[j + 1:] if rest.startswith("# ")]
            found.append((shlex.split(command), shown))
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`make serve` on free ports, in a session of its own (as a terminal runs it); stopped by the test or here."""
    work = tmp_path_factory.mktemp("make-serve")
    model_server = settings_for(ROOT / "model_store", work / "ts")
    port, grpc_port = free_ports(2)
    env = {**os.environ, **model_server_env(model_server), "GATEWAY_PORT": str(port),
           "GATEWAY_GRPC_PORT": str(grpc_port)}
    log = work / "make-serve.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(["make", "serve"], env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until_ready(url, process, log, READY_WITHIN_S)
        yield url, process, log
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever of the group is left: make, the stack
            os.killpg(process.pid, signal.SIGKILL)
        stop(model_server)  # a TorchServe that a failed stop left behind must not outlive the test


def test_the_readme_curls_answer_as_the_readme_shows(stack: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    url, _, _ = stack
    curls = readme_curls()
    assert len(curls) >= 2, "the README shows a prediction and a stream"
    for argv, shown in curls:
        argv = [arg.replace(README_URL, url) for arg in argv]
        answer = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert answer.returncode == 0, (argv, answer.stderr)
        if "-N" in argv:  # the stream: data lines, then the done event with the counts the README shows
            events = answer.stdout.split("\n\n")
            assert events[-2].startswith("event: done\n"), answer.stdout[-500:]
            done = json.loads(events[-2].splitlines()[1].removeprefix("data: "))
            assert done == json.loads(shown[-1].removeprefix("data: "))
            streamed = "".join(json.loads(e.removeprefix("data: "))["text"] for e in events[:-2])
            assert len(streamed) > 0
        else:  # a prediction: the label the README shows, and as many probabilities
            got, readme = json.loads(answer.stdout), json.loads(shown[0])
            assert (got["label"], len(got["probabilities"])) == (readme["label"], len(readme["probabilities"]))


def test_the_playground_and_the_api_docs_are_served(stack: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    url, _, _ = stack
    page = httpx.get(f"{url}/")
    assert (page.status_code, page.headers["content-type"].split(";")[0]) == (200, "text/html")
    docs = httpx.get(f"{url}/openapi.json").json()
    assert "/v1/models/{name}/predict" in docs["paths"]
    assert "/v2/models/{name}/infer" in docs["paths"]


def test_sigterm_to_its_group_stops_the_stack(stack: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    url, process, log = stack
    os.killpg(process.pid, signal.SIGTERM)
    # make is in the group too and ends on its own terms (killed by the signal, or exit 2 for a signalled recipe,
    # or 0); the stack, its child, stops in its own time and says so in the log it shares
    assert process.wait(timeout=120) in (0, 2, -signal.SIGTERM), log.read_text(errors="replace")[-3000:]
    deadline = time.monotonic() + 120
    while "SIGTERM: the stack stopped." not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.5)
    output = log.read_text(errors="replace")
    assert "TorchServe stopped." in output, output[-3000:]
    assert "SIGTERM: the stack stopped." in output
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/livez", timeout=2)
