"""Ray Serve 2.60: `apps/ray_app.py`, one replica; its batching mode is `@serve.batch`. Ray starts about eleven
processes of its own: they get a private temp dir (short: Ray's socket paths must fit 107 bytes) and SIGTERM
stops them through `serve.shutdown()`."""

import tempfile

from loadtests.peers.peer import Launch, Peer, Route


def command(launch: Launch) -> list[str]:
    """Its app on the launch's port, Ray's session files in a fresh folder under /tmp."""
    return [str(launch.python), "-m", "loadtests.peers.apps.ray_app", str(launch.ports[0]),
            tempfile.mkdtemp(prefix="ray-", dir="/tmp")]


PEER = Peer(name="ray-serve", title="Ray Serve 2.60.0", requirements=("ray[serve]==2.60.0",),
            modes=("plain", "batched"), launcher=command, stop_grace_s=60,
            routes=(Route("json", lambda model: "/predict", "instances", lambda answer: answer["probabilities"]),))
