"""One `ModelKind` per kind, looked up once per model at start-up: an archive of a kind the gateway has no
`ModelKind` for stops the start-up with one clear line, never a request-time fallthrough."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import serving.gateway.__main__ as entry
from handlers import EXPLAINED_KINDS, HANDLERS
from serving.examples import example_request
from serving.gateway.app import create_app
from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.kinds import KINDS, UnknownKind, kind_of
from serving.gateway.settings import GatewaySettings, get_settings
from serving.gateway.v2codec import parse_request
from serving.modelserver import ModelServerSettings

SERVED = ("image-classification, image-generation, policy, regression, tabular-classification, "
          "text-generation")


def _archive(store: Path, name: str, kind: str) -> None:
    with zipfile.ZipFile(store / f"{name}.mar", "w") as archive:
        archive.writestr("signature.json", json.dumps({"name": name, "kind": kind, "version": "1.0"}))
        archive.writestr("metrics.json", "{}")
        archive.writestr("model_card.md", f"# Model card: {name}")


def test_every_kind_has_its_handler_and_no_handler_is_without_a_kind() -> None:
    assert sorted(KINDS) == sorted(HANDLERS)
    for name, kind in KINDS.items():
        assert (kind.name, kind.handler) == (name, HANDLERS[name])


def test_the_explainable_kinds_are_those_whose_handlers_explain() -> None:
    assert {name for name, kind in KINDS.items() if kind.explainable} == EXPLAINED_KINDS


def test_each_kind_names_the_v1_media_types_it_takes() -> None:
    assert {name: kind.media_types for name, kind in KINDS.items()} == {
        "regression": ("application/json",), "tabular-classification": ("application/json",),
        "image-classification": ("application/json", "image/png", "image/jpeg"),
        "text-generation": ("application/json", "text/plain"), "image-generation": ("application/json",),
        "policy": ("application/json",)}


def test_an_unknown_kind_is_refused_with_the_kinds_served() -> None:
    with pytest.raises(UnknownKind, match=f"^unknown model kind 'sentiment'; the gateway serves {SERVED}$"):
        kind_of("sentiment")
    with pytest.raises(UnknownKind, match="unknown model kind 'sentiment'"):
        ModelEntry("m", "sentiment", "1", {}, {}, "")
    with pytest.raises(UnknownKind, match="unknown model kind 'sentiment'"):
        example_request({"kind": "sentiment", "example": {}})


def test_an_archive_of_an_unknown_kind_stops_the_catalog_and_the_app(tmp_path: Path) -> None:
    _archive(tmp_path, "good", "regression")
    _archive(tmp_path, "odd", "sentiment")
    message = f"^odd.mar: unknown model kind 'sentiment'; the gateway serves {SERVED}$"
    with pytest.raises(UnknownKind, match=message):
        Catalog.from_store(tmp_path)
    with pytest.raises(UnknownKind, match=message):
        create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path),
                   ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))


def test_the_gateway_process_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _archive(tmp_path, "odd", "sentiment")
    monkeypatch.setenv("GATEWAY_MODEL_STORE", str(tmp_path))
    monkeypatch.setattr(entry, "configure_logging", lambda level: None)
    get_settings.cache_clear()
    try:
        assert entry.main() == 2
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().err == f"error: odd.mar: unknown model kind 'sentiment'; the gateway serves {SERVED}\n"


ROWS = {"kind": "tabular-classification", "inputs": [{"name": "features", "shape": [-1, 2]}],
        "labels": ["a", "b", "c"], "example": {"features": [0.5, 1.5]}}


def test_a_kinds_v2_example_is_its_v1_example_as_one_tensor_and_goes_back_to_it() -> None:
    kind = kind_of("tabular-classification")
    inputs, outputs = kind.contract(ROWS)
    assert [t.as_metadata() for t in inputs] == [{"name": "features", "datatype": "FP32", "shape": [-1, 2]}]
    assert [t.as_metadata() for t in outputs] == [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                                                  {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    example = kind.example_infer(ROWS)
    assert example == {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]}]}
    assert kind.handler_requests(ROWS, parse_request(json.dumps(example).encode(), None)) == [
        {"features": [[0.5, 1.5]]}]


PIXELS = [[[0.0, 1.0], [1.0, 0.0]]]
SIGNATURES = {
    "regression": {"inputs": [{"shape": [-1, 2]}], "example": {"features": [1.0, 2.0]}},
    "tabular-classification": ROWS,
    "image-classification": {"labels": ["0", "1"], "example": {"image": PIXELS}},
    "text-generation": {"example": {"prompt": "Once"}},
    "image-generation": {"example": {"digit": 3}},
    "policy": {"inputs": [{"shape": [-1, 4]}], "actions": ["left", "right"],
               "example": {"observation": [0.125, 0.25, 0.5, 0.75]}},
}
# One handler answer per kind, as the handlers write them (docs/model-server.md).
ANSWERS = {
    "regression": [{"prediction": [0.5]}],
    "tabular-classification": [{"label": ["b"], "probabilities": [[0.2, 0.7, 0.1]]}],
    "image-classification": [{"label": ["1"], "probabilities": [[0.1, 0.9]]}],
    "text-generation": [{"text": "Once upon"}],
    "image-generation": [{"images": ["iVBORw0KGgo="]}],
    "policy": [{"action": [1], "q_values": [[0.1, 0.9]]}],
}
HANDLER_BODIES = {
    "regression": [{"features": [[1.0, 2.0]]}],
    "tabular-classification": [{"features": [[0.5, 1.5]]}],
    "text-generation": [{"prompt": "Once"}],
    "image-generation": [{"digit": [3], "count": 1}],
    "policy": [{"observation": [[0.125, 0.25, 0.5, 0.75]]}],
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_turns_its_v2_example_into_handler_json_and_answers_into_its_outputs(name: str) -> None:
    kind, signature = kind_of(name), {"kind": name, **SIGNATURES[name]}
    example = kind.example_infer(signature)
    bodies = kind.handler_requests(signature, parse_request(json.dumps(example).encode(), None))
    if name == "image-classification":  # the example image, re-encoded for the handler as it was sent
        assert bodies == [{"image": [example_request(signature)["image"]]}]
    else:
        assert bodies == HANDLER_BODIES[name]
    outputs = kind.outputs_from(ANSWERS[name])
    contract_outputs = kind.contract(signature)[1]
    assert [(t.name, t.datatype) for t in outputs] == [(s.name, s.datatype) for s in contract_outputs]
    for tensor, spec in zip(outputs, contract_outputs, strict=True):
        assert len(tensor.shape) == len(spec.shape)
