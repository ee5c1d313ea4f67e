"""Ray Serve serving the TorchScript file as Ray's docs write a deployment: a `@serve.deployment` class called
with the HTTP request; the batching mode routes rows through a `@serve.batch` method.
`python -m loadtests.peers.apps.ray_app PORT TEMP_DIR`. Ray starts its own processes (GCS, raylet, workers …), so
it gets a private temp dir, and SIGTERM stops it with `serve.shutdown()` and `ray.shutdown()`."""

import shutil
import signal
import sys
from typing import Any

import ray
from ray import serve
from starlette.requests import Request

from loadtests.peers.apps.tensor_model import BATCH_SIZE, BATCH_WAIT_S, TensorModel, settings


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1})
class Plain:
    """One request at a time: `{"instances": rows}` → `{"probabilities": rows}`."""

    def __init__(self, path: str) -> None:
        self.model = TensorModel(path)

    async def __call__(self, request: Request) -> dict:
        return {"probabilities": self.model.predict((await request.json())["instances"])}


# Ray's docs: max_ongoing_requests (5 by default) caps what reaches the replica, so a batch can only fill when it
# is at least max_batch_size; twice that keeps the next batch queued while one runs.
@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1}, max_ongoing_requests=2 * BATCH_SIZE)
class Batched:
    """Each request's rows queued for `@serve.batch`, which runs the queue as one forward pass."""

    def __init__(self, path: str) -> None:
        self.model = TensorModel(path)

    @serve.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def rows(self, requests: list[list]) -> list[list]:
        sizes = [len(r) for r in requests]
        out = self.model.forward([row for r in requests for row in r]).split(sizes)
        return [o.tolist() for o in out]

    async def __call__(self, request: Request) -> dict:
        return {"probabilities": await self.rows((await request.json())["instances"])}


def main() -> None:
    """Start Ray (this machine only), the HTTP proxy on 127.0.0.1:PORT and one replica, then wait for SIGTERM."""
    path, name, batched = settings()
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[2], object_store_memory=80 * 1024**2,
             log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
    deployment: Any = Batched if batched else Plain  # a Deployment: serve.deployment's typing hides it
    serve.run(deployment.bind(path), name=name, route_prefix="/predict")

    def stop(*_: object) -> None:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(sys.argv[2], ignore_errors=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
