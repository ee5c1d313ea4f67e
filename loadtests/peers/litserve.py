"""LitServe 0.2.19: `apps/litserve_app.py`, one worker; its batching mode is LitServe's own dynamic batching."""

from loadtests.peers.peer import Launch, Peer, Route


def command(launch: Launch) -> list[str]:
    """Its app on the launch's port."""
    return [str(launch.python), "-m", "loadtests.peers.apps.litserve_app", str(launch.ports[0])]


PEER = Peer(name="litserve", title="LitServe 0.2.19", requirements=("litserve==0.2.19",), modes=("plain", "batched"),
            launcher=command, routes=(Route("json", lambda model: "/predict", "instances",
                                            lambda answer: answer["probabilities"]),))
