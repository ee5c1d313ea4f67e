"""BentoML 1.4.40: `apps/bentoml_app.py` under `bentoml serve`, one worker; its batching mode is `batchable=True`
(BentoML's adaptive batching)."""

from loadtests.peers.peer import Launch, Peer, Route


def command(launch: Launch) -> list[str]:
    """`bentoml serve` of the mode's service class on 127.0.0.1."""
    service = "Batched" if launch.mode == "batched" else "Plain"
    return [str(launch.python.parent / "bentoml"), "serve", f"loadtests.peers.apps.bentoml_app:{service}",
            "--host", "127.0.0.1", "--port", str(launch.ports[0])]


PEER = Peer(name="bentoml", title="BentoML 1.4.40", requirements=("bentoml==1.4.40",), modes=("plain", "batched"),
            launcher=command, routes=(Route("json", lambda model: "/predict", "instances", lambda answer: answer),))
