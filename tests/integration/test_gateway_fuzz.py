"""Hypothesis through the whole gateway app, in process, in front of the session's real TorchServe: v2 tensors of
wrong shapes, datatypes and lengths, nested data, huge numbers, empty batches, deeply nested JSON, bytes that are
not UTF-8, wrong content types and random model names. Whatever arrives: no 5xx, a JSON `{"error": ...}` with a
message for every refusal, no TorchServe worker dies, and the gateway asks TorchServe about served models only
(every request its HTTP client sends is recorded)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from serving.gateway.app import create_app
from serving.gateway.core.http1 import Http1Pool, Origin
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings
from serving.modelserver.workers import worker_pids
from tests.error_bodies import error_of
from tests.integration.conftest import AUTH, KEY
from training import registry

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NAMES = registry.names()
DATATYPES = ["BOOL", "UINT8", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BF16", "BYTES",
             "fp32", "STRING", ""]
HUGE = st.sampled_from([1e308, -1e308, 5e-324, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**40), 2**1000])
NUMBERS = st.integers(-300, 300) | st.floats(allow_nan=False, allow_infinity=False) | HUGE
ELEMENTS = NUMBERS | st.booleans() | st.text(max_size=6) | st.none()
JSON_VALUES = st.recursive(ELEMENTS, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=12)
CONTENT_TYPES = ["application/json", "text/plain", "application/octet-stream", "image/png", "text/xml",
                 "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                 "application/json; charset=latin-1", ""]
DEPTH = 10_000
PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)  # what an HTTP client can put in a header


@pytest.fixture(scope="module")
def sent_upstream() -> Iterator[list[tuple[str, str]]]:
    """(method, URL) of every request the gateway's client to TorchServe sends while the module runs."""
    sent: list[tuple[str, str]] = []
    original = Http1Pool.request

    def recording(self: Http1Pool, origin: Origin, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        scheme = "https" if origin.tls else "http"
        sent.append((method, f"{scheme}://{origin.host}:{origin.port}{origin.base_path}{path}"))
        return original(self, origin, method, path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Http1Pool, "request", recording)
        yield sent


class InProcessGateway:
    """Blocking calls into the gateway app over httpx's ASGI transport, all on one event loop (the loop its
    lifespan opened TorchServe's connection pool on)."""

    def __init__(self, runner: asyncio.Runner, client: httpx.AsyncClient) -> None:
        self._runner, self._client = runner, client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture(scope="module")
def app_client(model_store: Path, server: ModelServerSettings,
               sent_upstream: list[tuple[str, str]]) -> Iterator[InProcessGateway]:
    """The gateway app in this process (lifespan run), with a key, in front of the session's TorchServe."""
    settings = GatewaySettings(_env_file=None, gateway_model_store=model_store, gateway_api_keys=KEY)
    app = create_app(settings, server)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with asyncio.Runner() as runner:
        lifespan = app.router.lifespan_context(app)
        runner.run(lifespan.__aenter__())
        client = httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=AUTH, timeout=60)
        try:
            yield InProcessGateway(runner, client)
        finally:
            runner.run(client.aclose())
            runner.run(lifespan.__aexit__(None, None, None))


@pytest.fixture(scope="module")
def contracts(app_client: InProcessGateway) -> dict[str, dict[str, Any]]:
    """Each served model's v2 input (name, datatype, shape), its version and its output names."""
    metadata = {name: app_client.get(f"/v2/models/{name}").json() for name in NAMES}
    return {name: {**meta["inputs"][0], "version": meta["versions"][0], "outputs": [o["name"] for o in meta["outputs"]]}
            for name, meta in metadata.items()}


@pytest.fixture(autouse=True)
def no_worker_dies_and_only_served_models_are_asked_for(
    server: ModelServerSettings, sent_upstream: list[tuple[str, str]],
) -> Iterator[None]:
    """Around each test: the same worker pids before and after, and no upstream URL but a served model's."""
    def workers() -> dict[str, list[int]]:
        return {name: worker_pids(server, name) for name in NAMES}

    before = workers()
    yield
    assert workers() == before, "a TorchServe worker died (or was restarted) during the test"
    allowed = {("POST", f"{server.inference_url}/predictions/{name}") for name in NAMES}
    allowed |= {("GET", f"{server.management_url}/models/{name}") for name in NAMES}
    assert set(sent_upstream) <= allowed, set(sent_upstream) - allowed


def assert_answered(response: httpx.Response) -> None:
    """No 5xx; a refusal is the gateway's JSON error with a message and the request id."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        assert error_of(response)[1].strip()


def chance(draw: st.DrawFn, percent: int) -> bool:
    """True in `percent` of the draws (sampled_from draws uniformly; integers would favour the ends), shrinking
    towards True: the least corrupted request that still fails."""
    return draw(st.sampled_from(range(100))) < percent


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


PNG = _png()


@st.composite
def tensors(draw: st.DrawFn, contract: dict[str, Any]) -> dict[str, Any]:
    """An input near the model's contract: mostly right, so that many reach the handler, with each of name,
    datatype, shape, length and elements wrong by chance, and huge or nested values."""
    rows = draw(st.integers(1, 3)) if chance(draw, 90) else 0
    shape = [rows, *contract["shape"][1:]]
    if chance(draw, 15):
        shape = draw(st.lists(st.integers(-2, 4) | st.sampled_from([2**31, 2**63, 10**20]), max_size=4))
    count = 1
    for side in shape:
        count *= side if 0 <= side < 2**20 else 0
    if contract["datatype"] == "BYTES":
        element = st.sampled_from([PNG, "The with statement"]) | st.text(max_size=8)
    else:
        element = NUMBERS if chance(draw, 20) else st.integers(-300, 300) | st.floats(-1e3, 1e3)
    length = count if chance(draw, 80) else draw(st.sampled_from([count + 1, max(count - 1, 0), 0, 2 * count]))
    data: Any = draw(st.lists(ELEMENTS if chance(draw, 5) else element, min_size=length, max_size=length))
    if chance(draw, 25) and len(shape) == 2 and shape[1] > 0 and length % shape[1] == 0:
        data = [data[i:i + shape[1]] for i in range(0, length, shape[1])]
    elif chance(draw, 5):
        data = draw(JSON_VALUES)
    item: dict[str, Any] = {
        "name": contract["name"] if chance(draw, 90) else draw(st.text(max_size=6)),
        "datatype": contract["datatype"] if chance(draw, 85) else draw(st.sampled_from(DATATYPES)),
        "shape": shape,
        "data": data,
    }
    if chance(draw, 10):
        item[draw(st.sampled_from(["name", "datatype", "shape", "data", "parameters"]))] = draw(JSON_VALUES)
    return item


@st.composite
def infer_requests(draw: st.DrawFn, contracts: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """A model and a v2 inference request for it, near valid."""
    name = draw(st.sampled_from(NAMES))
    contract = contracts[name]
    count = draw(st.sampled_from([1] * 8 + [0, 2]))
    document: dict[str, Any] = {"inputs": [draw(tensors(contract)) for _ in range(count)]}
    if chance(draw, 30):
        document["parameters"] = draw(st.fixed_dictionaries({}, optional={
            "binary_data_output": st.booleans(), "seed": NUMBERS, "max_new_tokens": st.integers(-2, 40) | HUGE,
            "temperature": NUMBERS, "top_k": NUMBERS}))
    if chance(draw, 25):
        outputs = st.sampled_from(contract["outputs"]) | st.text(max_size=8)
        document["outputs"] = draw(st.lists(st.fixed_dictionaries(
            {"name": outputs}, optional={"parameters": st.fixed_dictionaries({"binary_data": st.booleans()})}),
            max_size=2))
    return name, document


@pytest.mark.timeout(120)
def test_v2_tensors_never_get_a_5xx(app_client: InProcessGateway, contracts: dict[str, dict[str, Any]],
                                    sent_upstream: list[tuple[str, str]]) -> None:
    @FUZZ
    @given(request=infer_requests(contracts))
    def check(request: tuple[str, dict[str, Any]]) -> None:
        name, document = request
        response = app_client.post(f"/v2/models/{name}/infer", content=json.dumps(document).encode())
        assert_answered(response)
        if response.status_code == 200:  # JSON, or a JSON header and binary outputs after it
            length = int(response.headers.get("inference-header-content-length", len(response.content)))
            assert json.loads(response.content[:length])["model_name"] == name

    check()
    # near-valid requests reached the models (and the recorder of upstream requests saw them)
    assert any("/predictions/" in url for _, url in sent_upstream)


@pytest.mark.timeout(120)
@given(name=st.sampled_from(NAMES), body=st.binary(max_size=200), content_type=st.sampled_from(CONTENT_TYPES),
       header_length=st.none() | st.integers(-1, 220).map(str) | st.text(PRINTABLE_ASCII, max_size=4))
@FUZZ
def test_raw_bytes_with_any_content_type_never_get_a_5xx(app_client: InProcessGateway, name: str, body: bytes,
                                                         content_type: str, header_length: str | None) -> None:
    headers = {"Content-Type": content_type}
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = header_length
    for route in (f"/v2/models/{name}/infer", f"/v1/models/{name}/predict"):
        assert_answered(app_client.post(route, content=body, headers=headers))


@pytest.mark.timeout(120)
@given(name=st.sampled_from(NAMES), document=JSON_VALUES)
@FUZZ
def test_v1_random_json_reaches_the_handlers_and_never_gets_a_5xx(app_client: InProcessGateway, name: str,
                                                                  document: Any) -> None:
    assert_answered(app_client.post(f"/v1/models/{name}/predict", content=json.dumps(document).encode()))


def _nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


DEEP_BODIES = {
    "v2 body": ("/v2/models/{}/infer", _nested(DEPTH)),
    "v2 data": ("/v2/models/{}/infer",
                '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": ' + _nested(DEPTH) + "}]}"),
    "v2 parameters": ("/v2/models/{}/infer", '{"inputs": [], "parameters": ' + '{"a":' * DEPTH + "0" + "}" * DEPTH
                      + "}"),
    "v1 body": ("/v1/models/{}/predict", _nested(DEPTH)),
    "v1 field": ("/v1/models/{}/predict", '{"features": ' + _nested(DEPTH) + "}"),
    "v2 not UTF-8": ("/v2/models/{}/infer", '{"inputs": [{"name": "\udcff", "datatype": "FP32", "shape": [1], '
                                            '"data": [1]}]}'),
    "v1 not UTF-8": ("/v1/models/{}/predict", '{"features": "\udcff\udcfe"}'),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", DEEP_BODIES)
def test_deeply_nested_and_undecodable_bodies_get_a_400(app_client: InProcessGateway, case: str) -> None:
    route, text = DEEP_BODIES[case]
    body = text.encode("utf-8", "surrogateescape")  # the lone surrogates become raw 0xff/0xfe bytes
    for name in NAMES:
        response = app_client.post(route.format(name), content=body)
        assert_answered(response)
        assert response.status_code == 400, (name, response.text[:300])


@pytest.mark.timeout(120)
@given(name=st.text(min_size=1, max_size=300), version=st.none() | st.text(min_size=1, max_size=50),
       method=st.sampled_from(["GET", "POST"]))
@FUZZ
def test_random_model_names_and_versions_are_refused_without_reaching_torchserve(
    app_client: InProcessGateway, contracts: dict[str, dict[str, Any]], name: str, version: str | None, method: str,
) -> None:
    path = f"/v2/models/{quote(name, safe='')}"
    if version is not None:
        path += f"/versions/{quote(version, safe='')}"
    route = path + ("/infer" if method == "POST" else "/ready")
    response = app_client.request(method, route, content=b'{"inputs": []}')
    if name in NAMES and version in (None, contracts[name]["version"]):
        assert response.status_code in (200, 400)
    else:
        # 405: a name or version of "." or ".." is a dot segment the client resolves away (RFC 3986), so
        # `/versions/./infer` arrives as `/versions/infer`, the GET-only metadata route of version "infer"
        assert response.status_code in (400, 404, 405), f"{route}: {response.status_code} {response.text[:300]}"
        if response.status_code == 405:
            assert "." in (name, version) or ".." in (name, version), route
        assert_answered(response)
