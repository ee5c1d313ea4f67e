"""Every peer the bench knows, by name (`python -m loadtests bench --peers NAME ...`)."""

from loadtests.peers import bentoml, kserve, litserve, mlserver, ray_serve, torchserve
from loadtests.peers.peer import Peer

PEERS: dict[str, Peer] = {p.name: p for p in (litserve.PEER, ray_serve.PEER, bentoml.PEER, kserve.PEER,
                                                mlserver.PEER, torchserve.PEER)}
QUICK = "litserve"  # the one `make test` runs: the smallest venv besides TorchServe's own
