"""Protobuf messages ↔ the codec's types: a `ModelInferRequest` into an `InferRequest` (the codec checks it, as it
checks a REST body), output `Tensor`s into a `ModelInferResponse` with raw contents, as Triton answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.v2codec import DTYPES, CodecError, InferRequest, InputFields, Tensor, build_request, encode_raw

# Where each datatype's typed elements go in InferTensorContents (FP16 has no field: raw contents only).
CONTENTS_FIELD = {"BOOL": "bool_contents", "UINT8": "uint_contents", "INT8": "int_contents",
                  "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
                  "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
CONTENTS_FIELDS = frozenset(field.name for field in pb.InferTensorContents.DESCRIPTOR.fields)


def infer_request(message: pb.ModelInferRequest, max_elements: int = 1_000_000) -> InferRequest:
    """The codec's request; CodecError (a client's mistake) for anything the protocol does not allow."""
    raw = list(message.raw_input_contents)
    if raw and len(raw) != len(message.inputs):
        raise CodecError(f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs; "
                         "send one per input, in order")
    fields = [_input_fields(tensor, raw[index] if raw else None) for index, tensor in enumerate(message.inputs)]
    outputs = [(output.name, parameters(output.parameters, f"requested output {output.name!r}"))
               for output in message.outputs]
    return build_request(message.id, fields, parameters(message.parameters, "the request"), outputs,
                         max_elements=max_elements, raw_name="raw_input_contents")


def parameters(entries: Mapping[str, pb.InferParameter], where: str) -> dict[str, Any]:
    """Protobuf parameters as plain values; a parameter with no value set is refused."""
    values: dict[str, Any] = {}
    for key, parameter in entries.items():
        choice = parameter.WhichOneof("parameter_choice")
        if choice is None:
            raise CodecError(f"{where}: parameter {key!r} has no value")
        values[key] = getattr(parameter, choice)
    return values


def _input_fields(tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> InputFields:
    where = f"input {tensor.name!r}"
    given = [field.name for field, _ in tensor.contents.ListFields()]
    if raw is not None:
        if given:
            raise CodecError(f"{where} has both contents and raw_input_contents; send one or the other")
        return InputFields(tensor.name, tensor.datatype, list(tensor.shape),
                           parameters(tensor.parameters, where), raw=raw)
    field = CONTENTS_FIELD.get(tensor.datatype)
    # An unknown datatype is left to the codec, whose message lists the supported ones.
    if given and tensor.datatype in DTYPES and given != [field]:
        expected = f"in {field}" if field else "in raw_input_contents only"
        raise CodecError(f"{where} is {tensor.datatype}: its elements go {expected}, got {', '.join(given)}")
    values: Sequence[Any] | None = getattr(tensor.contents, field) if field else None
    return InputFields(tensor.name, tensor.datatype, list(tensor.shape), parameters(tensor.parameters, where),
                       values=values)


def infer_response(model_name: str, model_version: str, request: InferRequest,
                   outputs: list[Tensor]) -> pb.ModelInferResponse:
    """The answer: the requested outputs (all when none were named), each as raw contents."""
    chosen = _chosen(request, outputs)
    response = pb.ModelInferResponse(model_name=model_name, model_version=model_version, id=request.id or "")
    for tensor in chosen:
        response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        response.raw_output_contents.append(encode_raw(tensor))
    return response


def _chosen(request: InferRequest, outputs: list[Tensor]) -> list[Tensor]:
    if not request.requested_outputs:
        return outputs
    by_name = {tensor.name: tensor for tensor in outputs}
    unknown = [output.name for output in request.requested_outputs if output.name not in by_name]
    if unknown:
        raise CodecError(f"unknown output(s) {unknown}; this model has {sorted(by_name)}")
    return [by_name[output.name] for output in request.requested_outputs]
