"""KServe 0.21 (its Python ModelServer): `apps/kserve_app.py`, one uvicorn worker, bound to 127.0.0.1 (KServe binds
0.0.0.0 unless told otherwise), answering on its v1 and its v2 REST routes. It has no batching of its own."""

from loadtests.peers import bodies
from loadtests.peers.peer import Launch, Peer, Route


def command(launch: Launch) -> list[str]:
    """Its app on the launch's port."""
    return [str(launch.python), "-m", "loadtests.peers.apps.kserve_app", str(launch.ports[0])]


PEER = Peer(name="kserve", title="KServe 0.21.0", requirements=("kserve==0.21.0",), modes=("plain",),
            launcher=command,
            routes=(Route("v2", lambda model: f"/v2/models/{model}/infer", "v2", bodies.v2_probabilities),
                    Route("v1", lambda model: f"/v1/models/{model}:predict", "instances",
                          lambda answer: answer["predictions"])))
