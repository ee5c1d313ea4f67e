"""LitServe serving the TorchScript file as LitServe's docs write a server: a `LitAPI` with `setup`,
`decode_request`, `predict`, `encode_response`; the batching mode sets `max_batch_size` and `batch_timeout` and
adds `batch`/`unbatch`. `python -m loadtests.peers.apps.litserve_app PORT` (model and mode from PEER_* vars)."""

import sys

import litserve as ls
import torch

from loadtests.peers.apps.tensor_model import BATCH_SIZE, BATCH_WAIT_S, TensorModel, settings


class TorchScriptAPI(ls.LitAPI):
    """One request: `{"instances": rows}` → `{"probabilities": rows}`."""

    def setup(self, device: str) -> None:
        self.model = TensorModel(settings()[0])
        self.sizes: list[int] = []

    def decode_request(self, request: dict) -> torch.Tensor:
        return torch.as_tensor(request["instances"], dtype=torch.float32)

    def batch(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        self.sizes = [len(x) for x in inputs]  # one worker loop: unbatch follows this batch's predict
        return torch.cat(inputs)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward(x)

    def unbatch(self, output: torch.Tensor) -> list[torch.Tensor]:
        return list(output.split(self.sizes))

    def encode_response(self, output: torch.Tensor) -> dict:
        return {"probabilities": output.tolist()}


def main() -> None:
    """One worker on 127.0.0.1; batching only in the batched mode."""
    batched = settings()[2]
    api = TorchScriptAPI(max_batch_size=BATCH_SIZE if batched else 1, batch_timeout=BATCH_WAIT_S if batched else 0)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=60)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
