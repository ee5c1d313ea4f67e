"""Drive the gateway's gRPC front-end with a real v2 client, in a process of its own:

    python -m tests.integration.grpc_clients triton|kserve 127.0.0.1:8001 KEY MODEL...
    python -m tests.integration.grpc_clients stream 127.0.0.1:8001 KEY SPEC

prints one JSON object: per model, its readiness and every output tensor (numbers as lists, BYTES as base64 of
the raw elements); for `stream`, what tritonclient's ModelStreamInfer callback got for the requests of SPEC
(`stream_triton`). Both clients register the `inference` protobuf package in protobuf's default pool, so the
two (and the kserve SDK's REST client the other tests use) cannot share the test process.

The inputs are `held_out(model)`: real held-out data in each kind's v2 contract, the same for both clients.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
from typing import Any

import numpy as np
from PIL import Image

from training import registry
from training.data import images, tabular

GENERATION = {"char_rnn": {"seed": 3, "max_new_tokens": 12}, "dcgan_digits": {"seed": 5}}


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).round().astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def held_out(model: str) -> tuple[str, str, np.ndarray]:
    """(input name, datatype, data) for a model: held-out rows, digit PNGs, prompts, digits or observations."""
    kind = str(registry.get(model).kind)
    if kind in ("regression", "tabular-classification"):
        return "features", "FP32", tabular.load(registry.get(model).dataset).x_test[:4].astype(np.float32)
    if kind == "image-classification":
        return "image", "BYTES", np.array([_png(x[0].numpy()) for x in images.digits().x_test[:4]], np.object_)
    if kind == "text-generation":
        return "prompt", "BYTES", np.array([b"The with statement", b"def "], dtype=np.object_)
    if kind == "image-generation":
        return "digit", "INT64", np.array([1, 7], dtype=np.int64)
    return "observation", "FP32", np.array([[0.01, 0.2, -0.03, -0.3], [0.0, -0.5, 0.05, 0.6]], np.float32)


def _plain(array: np.ndarray) -> Any:
    if array.dtype == np.object_:
        return [base64.b64encode(item if isinstance(item, bytes) else str(item).encode()).decode()
                for item in array.ravel()]
    return array.tolist()


def triton(target: str, key: str, models: list[str]) -> dict[str, Any]:
    """tritonclient.grpc, raw contents (as it always sends them)."""
    import tritonclient.grpc as client_lib

    client = client_lib.InferenceServerClient(url=target)
    headers = {"authorization": f"Bearer {key}"}
    results: dict[str, Any] = {"server_ready": client.is_server_ready(headers=headers)}
    for model in models:
        name, datatype, data = held_out(model)
        tensor = client_lib.InferInput(name, list(data.shape), datatype)
        tensor.set_data_from_numpy(data)
        metadata = client.get_model_metadata(model, headers=headers, as_json=True)
        result = client.infer(model, [tensor], headers=headers, parameters=GENERATION.get(model), request_id="t-1")
        response = result.get_response(as_json=True)
        results[model] = {"ready": client.is_model_ready(model, headers=headers), "id": response["id"],
                          "outputs": {o["name"]: _plain(result.as_numpy(o["name"])) for o in metadata["outputs"]}}
    client.close()
    return results


def kserve(target: str, key: str, models: list[str]) -> dict[str, Any]:
    """The kserve SDK's InferenceGRPCClient, typed contents (a list as data), as its docs show."""
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    headers = [("authorization", f"Bearer {key}")]

    async def scenario() -> dict[str, Any]:
        client = InferenceGRPCClient(target, timeout=60, retries=0)
        try:
            results: dict[str, Any] = {"server_ready": await client.is_server_ready(headers=headers)}
            for model in models:
                name, datatype, data = held_out(model)
                tensor = InferInput(name, list(data.shape), datatype, data=data.ravel().tolist())
                request = InferRequest(model, [tensor], parameters=GENERATION.get(model), request_id="k-1")
                response = await client.infer(request, headers=headers)
                results[model] = {"ready": await client.is_model_ready(model, headers=headers), "id": response.id,
                                  "outputs": {o.name: _plain(np.asarray(o.as_numpy())) for o in response.outputs}}
            return results
        finally:
            await client.close()

    return asyncio.run(scenario())


def stream_triton(target: str, key: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """tritonclient.grpc's `start_stream` / `async_stream_infer` / `stop_stream`, as its docs show: every request
    of `spec["requests"]` ({"model", "prompt", "id", "parameters"}) sent on one stream, with empty final
    responses. Each response becomes {"id", "text"} (a chunk), {"id", "final": parameters} or {"error"}. With
    `spec["cancel_after"]` = n the client cancels the stream after n responses; else it waits for every request's
    final response or error, then closes the stream."""
    import queue

    import tritonclient.grpc as client_lib
    from tritonclient.utils import InferenceServerException

    received: queue.Queue[dict[str, Any]] = queue.Queue()

    def callback(result: Any, error: Any) -> None:
        if error is not None:
            received.put({"error": str(error)})
            return
        response = result.get_response()
        parameters = {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in response.parameters.items()}
        if parameters.pop("triton_final_response"):
            received.put({"id": response.id, "final": parameters})
        else:
            received.put({"id": response.id, "text": result.as_numpy("text")[0].decode()})

    client = client_lib.InferenceServerClient(url=target)
    client.start_stream(callback, headers={"authorization": f"Bearer {key}"})
    ended = False
    for request in spec["requests"]:
        prompt = client_lib.InferInput(request.get("input", "prompt"), [1], "BYTES")
        prompt.set_data_from_numpy(np.array([request["prompt"].encode()], dtype=np.object_))
        try:
            client.async_stream_infer(request["model"], [prompt], request_id=request["id"],
                                      parameters=request.get("parameters"), enable_empty_final_response=True)
        except InferenceServerException:
            # The server ended the call before this request was queued (a refused key can win that race):
            # tritonclient reports the call's error through the callback, once.
            ended = True
            break
    responses, open_requests = [], 1 if ended else len(spec["requests"])
    while open_requests if spec.get("cancel_after") is None else len(responses) < spec["cancel_after"]:
        responses.append(received.get(timeout=120))
        open_requests -= "text" not in responses[-1]
    client.stop_stream(cancel_requests=spec.get("cancel_after") is not None)
    client.close()
    return responses


if __name__ == "__main__":
    which, address, api_key, *names = sys.argv[1:]
    if which == "stream":
        print(json.dumps(stream_triton(address, api_key, json.loads(names[0]))))
    else:
        print(json.dumps({"triton": triton, "kserve": kserve}[which](address, api_key, names)))
