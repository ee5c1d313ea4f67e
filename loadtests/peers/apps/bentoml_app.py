"""BentoML serving the TorchScript file as BentoML's docs write a service: a `@bentoml.service` class with one
`@bentoml.api`, `batchable=True` in the batching mode (BentoML's adaptive batching).
`bentoml serve loadtests.peers.apps.bentoml_app:Plain` (or `:Batched`); model from PEER_* vars."""

import bentoml
import numpy as np

from loadtests.peers.apps.tensor_model import BATCH_SIZE, TensorModel, settings

SERVICE = {"workers": 1, "resources": {"cpu": "1"}, "traffic": {"timeout": 60}}


@bentoml.service(**SERVICE)
class Plain:
    """`{"instances": rows}` → the rows of probabilities."""

    def __init__(self) -> None:
        self.model = TensorModel(settings()[0])

    @bentoml.api
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.forward(instances).numpy()


@bentoml.service(**SERVICE)
class Batched:
    """The same API, batchable: BentoML joins requests along the first axis and splits the answer."""

    def __init__(self) -> None:
        self.model = TensorModel(settings()[0])

    @bentoml.api(batchable=True, max_batch_size=BATCH_SIZE)
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.forward(instances).numpy()
