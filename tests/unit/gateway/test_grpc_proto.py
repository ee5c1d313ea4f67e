"""The checked-in protobuf module is what `make proto` makes from inference.proto, and inference.proto is wire
compatible with the v2 clients: every field has the name, number and type of Triton's grpc_service.proto and of
the kserve SDK's grpc_predict_v2.proto (each read in a process of its own: both register the `inference`
package in protobuf's default pool, so they cannot be imported together)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from serving.gateway.frontends.grpc_v2 import regenerate

DESCRIBE = """
import json, sys, importlib
module = importlib.import_module(sys.argv[1])
service = module.DESCRIPTOR.services_by_name["GRPCInferenceService"]
def fields(message):
    out = {f.name: [f.number, f.type, f.label] for f in message.fields}
    for nested in message.nested_types:
        out.update({nested.name + "." + k: v for k, v in fields(nested).items()})
    return out
messages = module.DESCRIPTOR.message_types_by_name
print(json.dumps({"methods": {m.name: [m.input_type.full_name, m.output_type.full_name, m.client_streaming,
                                       m.server_streaming] for m in service.methods},
                  "messages": {name: fields(message) for name, message in messages.items()}}))
"""


def _described(module: str) -> dict[str, dict[str, object]]:
    out = subprocess.run([sys.executable, "-c", DESCRIBE, module], capture_output=True, text=True, check=True)
    described: dict[str, dict[str, object]] = json.loads(out.stdout)
    return described


def test_the_checked_in_module_is_up_to_date() -> None:
    assert regenerate.stale() == []
    assert regenerate.main(["--check"]) == 0


def test_an_edited_proto_makes_the_check_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for name in (regenerate.PROTO, *regenerate.OUTPUTS):
        shutil.copy(regenerate.HERE / name, tmp_path / name)
    proto = tmp_path / regenerate.PROTO
    proto.write_text(proto.read_text().replace("bool live = 1;", "bool live = 1;\n  string why = 2;"))
    monkeypatch.setattr(regenerate, "HERE", tmp_path)
    assert regenerate.stale() == ["inference_pb2.py", "inference_pb2.pyi"]
    assert regenerate.main(["--check"]) == 1
    assert capsys.readouterr().err == ("error: inference_pb2.py, inference_pb2.pyi differ from inference.proto: "
                                       "run `make proto`\n")


POOLS = """
from google.protobuf import descriptor_pool
from serving.gateway.frontends.grpc_v2 import inference_pb2
assert inference_pb2.ModelInferRequest.DESCRIPTOR.full_name == "inference.ModelInferRequest"
try:
    descriptor_pool.Default().FindMessageTypeByName("inference.ModelInferRequest")
except KeyError:
    pass
else:
    raise SystemExit("our messages are in the default pool")
import tritonclient.grpc.service_pb2  # registers its own inference.* in the default pool: must not clash
print("ok")
"""


def test_the_messages_live_in_a_pool_of_their_own() -> None:
    # In a fresh interpreter: another test of this session may have imported a client's copy into the default pool.
    result = subprocess.run([sys.executable, "-c", POOLS], capture_output=True, text=True, timeout=120, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr[-2000:]


@pytest.mark.parametrize("peer", ["tritonclient.grpc.service_pb2", "kserve.protocol.grpc.grpc_predict_v2_pb2"])
def test_every_field_and_call_matches_the_clients_protos(peer: str) -> None:
    ours, theirs = _described("serving.gateway.frontends.grpc_v2.inference_pb2"), _described(peer)
    assert set(ours["methods"]) == {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
                                    "ModelInfer", "ModelStreamInfer"}
    assert ours["methods"]["ModelStreamInfer"] == [  # type: ignore[index]
        "inference.ModelInferRequest", "inference.ModelStreamInferResponse", True, True]
    triton_only = {"ModelStreamInfer", "ModelStreamInferResponse"} if "kserve" in peer else set()
    for method, types in ours["methods"].items():  # type: ignore[attr-defined]
        if method not in triton_only:
            assert theirs["methods"][method] == types  # type: ignore[index]
    for message, fields in ours["messages"].items():  # type: ignore[attr-defined]
        if message in triton_only:
            continue  # Triton's streaming, which the spec (and the kserve SDK's copy of it) does not have
        peer_fields = theirs["messages"][message]  # type: ignore[index]
        for field, shape in fields.items():
            if message == "ModelMetadataResponse" and field.startswith(("parameters", "ParametersEntry.")):
                continue  # our addition (field 6, which neither peer uses): whether a model streams
            if message == "InferParameter" and field in ("double_param", "uint64_param") and "kserve" in peer:
                continue  # Triton's additions, which the kserve SDK's copy of the spec does not have
            assert peer_fields[field] == shape, (message, field)
