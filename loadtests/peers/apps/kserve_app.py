"""KServe's Python ModelServer serving the TorchScript file as KServe's docs write a custom model: a
`kserve.Model` with `load` and `predict`, served by `ModelServer` on the v1 and the v2 REST routes (KServe's
Python server has no batching of its own: one mode). `python -m loadtests.peers.apps.kserve_app PORT`."""

import sys

import kserve
from kserve import model_server
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.server import RESTServer
from kserve.utils.utils import generate_uuid

from loadtests.peers.apps.tensor_model import TensorModel, settings


class TorchScriptModel(kserve.Model):
    """v1 `{"instances": rows}` → `{"predictions": rows}`; v2 `features`/`image` FP32 → `probabilities` FP32."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.load()

    def load(self) -> bool:
        self.model = TensorModel(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload: dict | InferRequest, headers: dict | None = None) -> dict | InferResponse:
        if isinstance(payload, InferRequest):
            probabilities = self.model.forward(payload.inputs[0].as_numpy()).numpy()
            output = InferOutput("probabilities", list(probabilities.shape), "FP32")
            output.set_data_from_numpy(probabilities, binary_data=False)
            return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name,
                                 infer_outputs=[output])
        return {"predictions": self.model.predict(payload["instances"])}


class LoopbackRESTServer(RESTServer):
    """KServe's REST server, bound to 127.0.0.1 (KServe writes 0.0.0.0 into its uvicorn config)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.config.host = "127.0.0.1"


def main() -> None:
    """One uvicorn worker on 127.0.0.1:PORT; no gRPC server (it would bind every address too)."""
    path, name, _ = settings()
    model_server.RESTServer = LoopbackRESTServer
    kserve.ModelServer(http_port=int(sys.argv[1]), workers=1, enable_grpc=False,
                       enable_latency_logging=False).start([TorchScriptModel(name, path)])


if __name__ == "__main__":
    main()
