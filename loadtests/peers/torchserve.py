"""TorchServe 0.12.0 called directly, in the project's own venv: the model archived with its registry settings
(plain: batchSize 1, how the gateway's archives run) or with TorchServe's best settings in the sweep (batched:
batchSize 8, maxBatchDelay 2 ms), served by `python -m serving.modelserver run` with the handler's v1 body."""

import sys
from pathlib import Path

from loadtests.peers.peer import Launch, Peer, Route
from serving.archive.builder import build
from serving.modelserver import ModelServerError, ModelServerSettings, read_keys
from serving.modelserver.paths import ServerPaths
from serving.modelserver.processes import server_process

BEST = {"batch_size": 8, "max_batch_delay_ms": 2}  # docs/benchmarks.md's sweep


def _home(launch: Launch) -> str:
    return str(launch.work / f"ts-{launch.model}-{launch.mode}")


def archive(launch: Launch) -> None:
    """The model's .mar in a store of its own, with the mode's batch settings."""
    build(launch.model_dir, launch.work / f"ts-store-{launch.model}-{launch.mode}", "cpu",
          BEST if launch.mode == "batched" else None)


def env(launch: Launch) -> dict[str, str]:
    """TorchServe's five ports, its store and its home, as TS_* settings."""
    fields = ("inference", "management", "metrics", "grpc_inference", "grpc_management")
    ports = {f"TS_{name.upper()}_PORT": str(port) for name, port in zip(fields, launch.ports, strict=True)}
    return {**ports, "TS_MODEL_STORE": str(launch.work / f"ts-store-{launch.model}-{launch.mode}"),
            "TS_HOME": _home(launch)}


def command(launch: Launch) -> list[str]:
    """TorchServe in the foreground: SIGTERM stops it."""
    return [sys.executable, "-m", "serving.modelserver", "run"]


def token(launch: Launch) -> dict[str, str]:
    """TorchServe's inference token (new at every start; none before it has written its key file)."""
    try:
        return read_keys(Path(_home(launch))).inference_headers()
    except ModelServerError:
        return {}


def jvm(launch: Launch) -> list[int]:
    """TorchServe's JVM (its workers are its children): it runs in a session of its own, outside the leader's."""
    process = server_process(ServerPaths.of(ModelServerSettings.model_validate(
        {"ts_home": _home(launch), "ts_model_store": launch.work / f"ts-store-{launch.model}-{launch.mode}"})))
    return [process.pid] if process else []


PEER = Peer(name="torchserve", title="TorchServe 0.12.0", requirements=(), modes=("plain", "batched"),
            launcher=command, ports=5, prepare=archive, env=env, roots=jvm, stop_grace_s=60,
            routes=(Route("v1", lambda model: f"/predictions/{model}", "handler-v1",
                          lambda answer: [answer["probabilities"]], headers=token),))
