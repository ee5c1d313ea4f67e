"""A handler's answer checked against what its model kind's contract takes, before it becomes the v2 outputs.

TorchServe passes on whatever the handler wrote with a 200; an answer that is not JSON, not an object, lacks a
key, holds values that do not convert, or the wrong number of items is the model's fault: `BadModelAnswer`
(502; gRPC INTERNAL), never the gateway's 500, and never a tensor of the wrong shape sent on to the client."""

from typing import Any

import orjson

from serving.gateway.core.catalog import ModelEntry
from serving.gateway.core.errors import BadModelAnswer
from serving.gateway.core.kinds.base import TensorSpec
from serving.gateway.v2codec import Tensor

# What converting a handler's JSON into tensors raises on values of the wrong kind (a missing key or item, a
# string where a number goes, a ragged list, an integer past int64).
_WRONG_VALUES = (LookupError, TypeError, ValueError, OverflowError)


def answer_object(model: str, body: bytes, *keys: str) -> dict[str, Any]:
    """A handler's answer as a JSON object holding `keys`; BadModelAnswer otherwise."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadModelAnswer(f"model {model!r} answered with something other than JSON") from None
    if not isinstance(answer, dict):
        raise BadModelAnswer(f"model {model!r} answered a JSON {type(answer).__name__}, not an object")
    if keys:
        missing = [key for key in keys if key not in answer]
        if missing:
            raise BadModelAnswer(f"model {model!r} answered without {', '.join(map(repr, missing))}")
    return answer


def checked_outputs(entry: ModelEntry, batch: int, bodies: list[bytes]) -> list[Tensor]:
    """The v2 outputs the handler's answers make, for a request of `batch` items; BadModelAnswer unless every
    output has its contract's rank, fixed sizes and one row per item."""
    answers = [answer_object(entry.name, body) for body in bodies]
    try:
        outputs = entry.model_kind.outputs_from(answers)
    except KeyError as error:
        raise BadModelAnswer(f"model {entry.name!r} answered without {error}") from None
    except _WRONG_VALUES as error:
        raise BadModelAnswer(f"model {entry.name!r} answered values its {entry.kind} outputs cannot hold "
                             f"({type(error).__name__}: {str(error)[:200]})") from None
    for tensor, spec in zip(outputs, entry.contract[1], strict=True):
        _check_shape(entry.name, tensor, spec, batch)
    return outputs


def _check_shape(model: str, tensor: Tensor, spec: TensorSpec, batch: int) -> None:
    expected = [batch, *spec.shape[1:]]  # one row per item, then the contract's fixed sizes (-1 is only first)
    if list(tensor.shape) != expected:
        raise BadModelAnswer(f"model {model!r} answered output {spec.name!r} of shape {list(tensor.shape)}; "
                             f"{batch} item(s) make {expected}")
