"""The same faults over gRPC: the client's deadline, the gateway's upstream timeout, overload and TorchServe down,
each with its status code, message and metrics."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx

from serving.modelserver import ModelServerSettings, start, stop
from tests.servers import free_ports, gateway_process


def _grpc_infer(target: str, model: str, timeout_s: float) -> grpc.RpcError | None:
    """One ModelInfer of ten zero features; the error, or None when it succeeded."""
    from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb

    message = pb.ModelInferRequest(model_name=model, raw_input_contents=[bytes(40)])
    message.inputs.add(name="features", datatype="FP32", shape=[1, 10])
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                   request_serializer=pb.ModelInferRequest.SerializeToString,
                                   response_deserializer=pb.ModelInferResponse.FromString)
        try:
            call(message, timeout=timeout_s)
        except grpc.RpcError as error:
            return error
    return None


def test_grpc_deadlines_upstream_timeouts_and_overload_get_their_codes(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    port = free_ports(1)[0]
    target = f"127.0.0.1:{port}"
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_GRPC_PORT=str(port),
                         GATEWAY_UPSTREAM_TIMEOUT_S="1", GATEWAY_MAX_CONCURRENCY="1") as (url, _):
        assert _grpc_infer(target, "linear_regression", 30) is None
        # the client's deadline: the call ends then, and so does its hold on the one admission slot, although
        # TorchServe is still inside the two-second handler
        error = _grpc_infer(target, "sleepy", 0.3)
        assert error is not None
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert _grpc_infer(target, "linear_regression", 30) is None
        # the gateway's own upstream timeout, well inside the client's deadline
        error = _grpc_infer(target, "sleepy", 30)
        assert error is not None
        assert (error.code(), error.details()) == (grpc.StatusCode.DEADLINE_EXCEEDED,
                                                   "model 'sleepy' did not answer in time")
        # the one slot taken: the next call is refused at once, with a hint for when to retry
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(_grpc_infer, target, "sleepy", 30)
            time.sleep(0.3)
            refused = _grpc_infer(target, "linear_regression", 30)
            assert busy.result() is not None  # the sleepy call itself times out upstream
        assert refused is not None
        assert (refused.code(), refused.details()) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED, "the gateway is at its limit of 1 requests in flight; retry shortly")
        assert ("retry-after", "1") in tuple(refused.trailing_metadata())  # type: ignore[attr-defined]
        text = httpx.get(f"{url}/metrics").text
        for status, count in (("200", 2), ("429", 1)):  # counted as REST counts: the same status for the answer
            assert ('gateway_requests_total{method="POST",model="linear_regression",'
                    f'route="/inference.GRPCInferenceService/ModelInfer",status="{status}"}} {count}.0') in text


def test_grpc_torchserve_down_is_unavailable_and_health_not_serving(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = free_ports(1)[0]
    target = f"127.0.0.1:{port}"
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_GRPC_PORT=str(port)):
        assert _grpc_infer(target, "linear_regression", 30) is None
        stop(own_server)
        try:
            error = _grpc_infer(target, "linear_regression", 30)
            assert error is not None
            assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE,
                                                       "the model server is unavailable")
            with grpc.insecure_channel(target) as channel:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
        finally:
            start(own_server)
        assert _grpc_infer(target, "linear_regression", 30) is None
