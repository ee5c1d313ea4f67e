"""The peers' pieces that need no server: the registry, the request bodies, each adapter's command and settings,
the venv manager's reuse, the CLI's peer options and the peers' report with its targets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from loadtests import cli
from loadtests.peers import bodies, compare, mlserver, report, torchserve, venvs
from loadtests.peers.compare import PeerRun
from loadtests.peers.peer import Launch
from loadtests.peers.registry import PEERS, QUICK
from loadtests.stack_memory import StackMemory
from loadtests.wrk import WrkResult


def _launch(tmp_path: Path, mode: str = "batched", ports: tuple[int, ...] = (9001, 9002, 9003)) -> Launch:
    return Launch(Path("/venv/bin/python"), Path("/art/mlp_classifier"), mode, tmp_path, ports)


def test_every_peer_the_issue_names_is_registered_with_its_pinned_version() -> None:
    assert list(PEERS) == ["litserve", "ray-serve", "bentoml", "kserve", "mlserver", "torchserve"]
    for peer in PEERS.values():
        version = peer.title.split()[-1]
        assert not peer.requirements or any(version in pin for pin in peer.requirements), peer.name
    assert {name: peer.modes for name, peer in PEERS.items()} == {
        "litserve": ("plain", "batched"), "ray-serve": ("plain", "batched"), "bentoml": ("plain", "batched"),
        "kserve": ("plain",), "mlserver": ("plain", "batched"), "torchserve": ("plain", "batched")}
    assert [route.label for route in PEERS["kserve"].routes] == ["v2", "v1"]
    assert PEERS["mlserver"].requirements == ("mlserver==1.7.1", "uvloop<0.22")
    assert QUICK == "litserve"


def test_json_and_v2_bodies_carry_the_same_tensor(artifacts_dir: Path) -> None:
    model = artifacts_dir / "mlp_classifier"
    features = bodies.signature(model)["example"]["features"]
    rows = json.loads(bodies.instances(model))["instances"]
    assert np.allclose(rows, [features])
    v2 = json.loads(bodies.v2(model))["inputs"]
    assert [(t["name"], t["shape"], t["datatype"]) for t in v2] == [("features", [1, 13], "FP32")]
    assert v2[0]["data"] == rows[0]
    assert json.loads(bodies.handler_v1(model)) == {"features": features}
    image = json.loads(bodies.v2(artifacts_dir / "cnn_digits"))["inputs"][0]
    assert (image["name"], image["shape"]) == ("image", [1, 1, 8, 8])


def test_v2_probabilities_are_read_back_in_their_shape() -> None:
    answer = {"outputs": [{"name": "label", "shape": [1], "data": ["a"]},
                          {"name": "probabilities", "shape": [2, 2], "datatype": "FP32", "data": [0.1, 0.9, 0.6, 0.4]}]}
    rows = bodies.v2_probabilities(answer)
    assert [len(row) for row in rows] == [2, 2]
    assert np.allclose(rows, [[0.1, 0.9], [0.6, 0.4]])


def test_only_single_tensor_classifiers_are_compared(artifacts_dir: Path) -> None:
    assert [m for m in ("mlp_classifier", "cnn_digits", "char_rnn", "dcgan_digits", "linear_regression")
            if compare.comparable(artifacts_dir / m)] == ["mlp_classifier", "cnn_digits"]


def test_commands_run_each_app_in_its_venv_on_its_ports(tmp_path: Path) -> None:
    launch = _launch(tmp_path)
    assert PEERS["litserve"].launcher(launch) == ["/venv/bin/python", "-m", "loadtests.peers.apps.litserve_app",
                                                  "9001"]
    assert PEERS["bentoml"].launcher(launch) == ["/venv/bin/bentoml", "serve", "loadtests.peers.apps.bentoml_app:"
                                                 "Batched", "--host", "127.0.0.1", "--port", "9001"]
    assert PEERS["bentoml"].launcher(_launch(tmp_path, "plain"))[2].endswith(":Plain")
    ray = PEERS["ray-serve"].launcher(launch)
    assert ray[:4] == ["/venv/bin/python", "-m", "loadtests.peers.apps.ray_app", "9001"]
    assert Path(ray[4]).is_dir()
    assert len(ray[4]) < 30  # Ray's socket paths must fit 107 bytes
    Path(ray[4]).rmdir()
    assert launch.env() == {"PEER_MODEL_PATH": str(Path("/art/mlp_classifier/model.pt").resolve()),
                            "PEER_MODEL_NAME": "mlp_classifier", "PEER_MODE": "batched"}


def test_mlserver_settings_bind_loopback_and_switch_adaptive_batching_on(tmp_path: Path) -> None:
    for mode in ("plain", "batched"):
        launch = _launch(tmp_path, mode)
        mlserver.write_settings(launch)
        folder = Path(mlserver.command(launch)[2])
        assert json.loads((folder / "settings.json").read_text()) == {
            "host": "127.0.0.1", "http_port": 9001, "grpc_port": 9002, "metrics_port": 9003, "parallel_workers": 1,
            "debug": False}
        model = json.loads((folder / "model-settings.json").read_text())
        batching = {"max_batch_size": 32, "max_batch_time": 0.002} if mode == "batched" else {}
        assert model == {"name": "mlp_classifier", "implementation": mlserver.RUNTIME,
                         "parameters": {"uri": launch.env()["PEER_MODEL_PATH"]}, **batching}


def test_torchserve_gets_its_five_ports_and_a_store_of_its_own(tmp_path: Path) -> None:
    launch = _launch(tmp_path, "batched", (1, 2, 3, 4, 5))
    assert torchserve.env(launch) == {
        "TS_INFERENCE_PORT": "1", "TS_MANAGEMENT_PORT": "2", "TS_METRICS_PORT": "3", "TS_GRPC_INFERENCE_PORT": "4",
        "TS_GRPC_MANAGEMENT_PORT": "5", "TS_MODEL_STORE": str(tmp_path / "ts-store-mlp_classifier-batched"),
        "TS_HOME": str(tmp_path / "ts-mlp_classifier-batched")}
    assert torchserve.BEST == {"batch_size": 8, "max_batch_delay_ms": 2}
    assert torchserve.token(launch) == {}  # before TorchServe wrote its key file: no header, not an error


def test_a_venv_is_keyed_by_its_pins_and_reused_once_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADTEST_CACHE", str(tmp_path))
    assert venvs.cache_dir() == tmp_path
    first = venvs.venv_dir(tmp_path, "kserve", ("kserve==0.21.0",))
    assert first.parent == tmp_path / "venvs"
    assert first.name.startswith("kserve-")
    assert venvs.venv_dir(tmp_path, "kserve", ("kserve==0.22.0",)) != first
    assert venvs.requirements_text(("kserve==0.21.0",)) == "torch==2.14.1\nkserve==0.21.0\n"
    first.mkdir(parents=True)
    (first / venvs.STAMP).write_text(venvs.requirements_text(("kserve==0.21.0",)))

    def no_install(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a built venv was installed again: {args}")

    monkeypatch.setattr(subprocess, "run", no_install)
    assert venvs.ensure("kserve", ("kserve==0.21.0",)) == first / "bin" / "python"


def test_pip_sources_become_uv_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", "/wheels /more")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///simple")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout="/wheels\n"))
    assert venvs.pip_sources() == ["--find-links", "/wheels", "--find-links", "/more", "--extra-index-url",
                                   "/wheels", "--extra-index-url", "file:///simple"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--peers", "triton"], "error: unknown peer triton (known: litserve, ray-serve, bentoml, kserve, mlserver, "
                            "torchserve)\n"),
    (["--seconds", "0"], "error: --seconds, --repeats and --connections must be at least 1\n"),
])
def test_bench_refuses_bad_peer_options(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", *argv]) == 2
    assert capsys.readouterr().err == message


def test_quick_mode_presets_and_defaults() -> None:
    args = cli.build_parser().parse_args(["bench", "--quick"])
    cli._check(args)
    assert (args.models, args.connections, args.seconds, args.repeats, args.peers, args.out) == (
        ["mlp_classifier"], [1, 4], 1, 1, ["litserve"], Path("reports/bench-quick.md"))
    full = cli.build_parser().parse_args(["bench"])
    cli._check(full)
    assert (full.peers, full.out) == (list(PEERS), Path("docs/benchmarks.md"))
    alone = cli.build_parser().parse_args(["bench", "--peers"])
    cli._check(alone)
    assert alone.peers == []


def _run(title: str, route: str, rps: float, p99: float, mode: str = "batched") -> PeerRun:
    result = WrkResult(rps, 1.0, p99, 0, 0.1)
    return PeerRun(title.split()[0].lower(), title, route, mode, {"plain": rps / 2, "batched": rps}, 3.5, 512.0, 4,
                   {16: result, 64: result})


def _stack(v1: float, v2: float, p99: float) -> report.Results:
    return {"mlp_classifier": {"gateway": {16: WrkResult(v1, 1.0, p99, 0, 0.2), 64: WrkResult(v1, 1.0, p99, 0, 0.2)},
                               "gateway-v2": {16: WrkResult(v2, 1.0, p99, 0, 0.3),
                                              64: WrkResult(v2, 1.0, p99, 2, 0.3)}}}


def test_targets_compare_each_stack_route_with_the_best_peer() -> None:
    peers = {"mlp_classifier": [_run("KServe 0.21.0", "v2", 1000, 10), _run("LitServe 0.2.19", "json", 600, 5)]}
    lines = report.targets(_stack(1600, 1400, 9), peers)
    assert lines[:2] == [
        "- met: `mlp_classifier` this stack v1 / best peer (KServe 0.21.0 v2, batched) at 16 connections ≥ 1.5×, "
        "p99 ≤ its — measured 1.60×, p99 9.0 vs 10.0 ms",
        "- NOT met: `mlp_classifier` this stack v2 / best peer (KServe 0.21.0 v2, batched) at 16 connections ≥ 1.5×, "
        "p99 ≤ its — measured 1.40×, p99 9.0 vs 10.0 ms"]
    assert [line.split(":")[0] for line in lines[2:]] == ["- met", "- NOT met"]
    slower = report.targets(_stack(1600, 1600, 11), peers)
    assert [line.split(":")[0] for line in slower] == ["- NOT met"] * 4  # a p99 above the peer's misses too


def test_peer_table_rows_footprints_and_the_stack_memory(tmp_path: Path) -> None:
    peers = {"mlp_classifier": [_run("MLServer 1.7.1", "v2", 800, 12)]}
    memory = {"mlp_classifier": StackMemory(60.0, 250.0, (300.0,), 4)}
    text = report.markdown(_stack(1600, 1500, 9), peers, memory, 42.0)
    assert "| MLServer 1.7.1 v2 | **batched** (plain 400, batched 800 req/s) | 800 · 1.00 · 12.0 | " \
           "800 · 1.00 · 12.0 | 512 | 4 | 3.5 | 10% |" in text
    assert "| this stack v2 | coalescing | 1500 · 1.00 · 9.0 | 1500 · 1.00 · 9.0 · **2 errors** | 610 | 4 | 42.0 | " \
           "30% |" in text
    assert "gateway 60 MiB, TorchServe's JVM 250 MiB, its workers 300 MiB (PSS)" in text
    assert report.markdown(_stack(1, 1, 1), {"mlp_classifier": []}, memory, 1.0) == ""
    only_low = {"mlp_classifier": [PeerRun("kserve", "KServe 0.21.0", "v2", "plain", {}, 1.0, 1.0, 1,
                                           {4: WrkResult(1, 1, 1, 0, 0)})]}
    low = {"mlp_classifier": {way: {4: WrkResult(1, 1, 1, 0, 0)} for way in report.STACK}}
    assert "- none judged: the run had neither 16 nor 64 connections" in report.markdown(low, only_low, memory, 1.0)
    report.plot(_stack(1600, 1500, 9), peers, tmp_path / "peers.png")
    assert (tmp_path / "peers.png").read_bytes()[:4] == b"\x89PNG"
