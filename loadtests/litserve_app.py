"""`python -m loadtests.litserve_app MODEL_DIR --port P`: LitServe serving a curriculum model's TorchScript
file through the same handler TorchServe runs, so both servers do the same work per request. The benchmark's
peer (LitServe is a dev dependency only)."""


import argparse
import json
from pathlib import Path
from typing import Any

import litserve as ls
from fastapi import Response

from loadtests.inprocess import InProcessModel


class HandlerAPI(ls.LitAPI):
    """LitServe's request → batch → predict → response steps over the model's handler."""

    def __init__(self, model_dir: Path, max_batch_size: int, batch_timeout_s: float) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout_s)
        self.model_dir = model_dir

    def setup(self, device: str) -> None:
        self.model = InProcessModel(self.model_dir, batch_size=self.max_batch_size)

    def decode_request(self, request):  # LitServe builds its endpoint from this annotation: none means JSON
        return request  # the parsed JSON body, as TorchServe hands it to the handler

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def predict(self, x: Any) -> list[Response] | Response:
        bodies = x if isinstance(x, list) else [x]
        answers = self.model.answer(bodies)
        replies = [Response(a, status_code=self.model.status(i), media_type="application/json")
                   for i, a in enumerate(answers)]
        return replies if isinstance(x, list) else replies[0]

    def unbatch(self, output: list[Response]) -> list[Response]:
        return output

    def encode_response(self, output: Response) -> Response:
        return output


def main() -> None:
    """Serve one model on 127.0.0.1 with the batch settings its TorchServe archive uses."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.litserve_app", description=__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--batch-delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    json.loads((args.model_dir / "signature.json").read_text(encoding="utf-8"))  # fail early on a wrong folder
    api = HandlerAPI(args.model_dir, args.batch_size, args.batch_delay_ms / 1000)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=60)
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
