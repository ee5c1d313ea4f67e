"""MLServer 1.7.1: the custom runtime of `apps/mlserver_app.py` under `mlserver start`, one inference worker
(`parallel_workers` 1, its default); its batching mode is MLServer's adaptive batching. MLServer 1.7.1 breaks on
uvloop 0.22, hence the pin."""

import json
from pathlib import Path

from loadtests.peers import bodies
from loadtests.peers.apps.tensor_model import BATCH_SIZE, BATCH_WAIT_S
from loadtests.peers.peer import Launch, Peer, Route

RUNTIME = "loadtests.peers.apps.mlserver_app.TorchScriptRuntime"


def _folder(launch: Launch) -> Path:
    return launch.work / f"mlserver-{launch.model}-{launch.mode}"


def write_settings(launch: Launch) -> None:
    """settings.json (127.0.0.1, the launch's three ports) and the model's model-settings.json, in its own folder."""
    folder = _folder(launch)
    folder.mkdir(parents=True, exist_ok=True)
    http, grpc, metrics = launch.ports
    (folder / "settings.json").write_text(json.dumps(
        {"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics,
         "parallel_workers": 1, "debug": False}))
    model: dict[str, object] = {"name": launch.model, "implementation": RUNTIME,
                                "parameters": {"uri": launch.env()["PEER_MODEL_PATH"]}}
    if launch.mode == "batched":
        model |= {"max_batch_size": BATCH_SIZE, "max_batch_time": BATCH_WAIT_S}
    (folder / "model-settings.json").write_text(json.dumps(model))


def command(launch: Launch) -> list[str]:
    """`mlserver start` on the folder `write_settings` made."""
    return [str(launch.python.parent / "mlserver"), "start", str(_folder(launch))]


PEER = Peer(name="mlserver", title="MLServer 1.7.1", requirements=("mlserver==1.7.1", "uvloop<0.22"),
            modes=("plain", "batched"), launcher=command, ports=3, prepare=write_settings,
            routes=(Route("v2", lambda model: f"/v2/models/{model}/infer", "v2", bodies.v2_probabilities),))
