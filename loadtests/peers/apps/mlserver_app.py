"""MLServer serving the TorchScript file as MLServer's docs write a custom runtime: an `MLModel` with `load` and
`predict` over v2 tensors (NumpyCodec). Adaptive batching, the batching mode, is MLServer's own, switched on in
the model-settings.json that `loadtests.peers.mlserver.write_settings` writes for `mlserver start`."""

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

from loadtests.peers.apps.tensor_model import TensorModel


class TorchScriptRuntime(MLModel):
    """The model's input tensor (FP32, batch first) → `probabilities` FP32."""

    async def load(self) -> bool:
        self.model = TensorModel(str(self.settings.parameters.uri))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        probabilities = self.model.forward(NumpyCodec.decode_input(payload.inputs[0])).numpy()
        return InferenceResponse(model_name=self.name, id=payload.id,
                                 outputs=[NumpyCodec.encode_output("probabilities", probabilities)])
