"""Validation of every rendered object: Kubernetes' own schemas (kubernetes-validate), the ServiceMonitor CRD's
schema shipped in k8s/schemas/, and the kserve SDK's models for InferenceService (no network at test time)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import jsonschema
import kubernetes.client.models as k8s_models
import kubernetes_validate
from kserve import models as kserve_models

from tests.unit.deploy.manifests import K8S

KUBERNETES_VERSION = "1.37.0"


@cache
def servicemonitor_schema() -> dict[str, Any]:
    """The CRD's openAPIV3Schema, closed: the API server prunes unknown fields silently, so a typo would
    vanish instead of failing; here it fails."""
    schema = json.loads((K8S / "schemas" / "servicemonitor-monitoring-v1.json").read_text())
    schema.pop("$comment", None)

    def close(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: close(value) for key, value in node.items()}
            if "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [close(item) for item in node]
        return node

    closed: dict[str, Any] = close(copy.deepcopy(schema))
    closed["properties"]["metadata"] = {"type": "object"}
    return closed


def _model_class(name: str) -> type | None:
    return getattr(kserve_models, name, None) or getattr(k8s_models, name, None)


def check_sdk_model(value: Any, type_name: str, where: str = "") -> None:
    """Check `value` against an OpenAPI-generated model type of the kserve/kubernetes SDKs: every key known,
    every value of the declared type. AssertionError naming the first path that is not."""
    if match := re.fullmatch(r"[lL]ist\[(.+)\]", type_name):
        assert isinstance(value, list), f"{where}: expected a list"
        for i, item in enumerate(value):
            check_sdk_model(item, match.group(1), f"{where}[{i}]")
        return
    # the two SDKs' generators spell maps `dict(str, T)` and `Dict[str, T]`
    if match := re.fullmatch(r"dict\(str, (.+)\)|Dict\[str, (.+)\]", type_name):
        assert isinstance(value, dict), f"{where}: expected a mapping"
        for key, item in value.items():
            check_sdk_model(item, match.group(1) or match.group(2), f"{where}.{key}")
        return
    primitives: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,),
                                                "float": (int, float), "object": (object,),
                                                "datetime": (str,)}
    if type_name in primitives:
        assert isinstance(value, primitives[type_name]), f"{where}: expected {type_name}, got {value!r}"
        return
    model = _model_class(type_name)
    assert model is not None, f"{where}: unknown SDK type {type_name}"
    assert isinstance(value, dict), f"{where}: expected an object of {type_name}"
    by_json_name = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        assert key in by_json_name, f"{where}.{key}: not a field of {type_name}"
        check_sdk_model(item, model.openapi_types[by_json_name[key]], f"{where}.{key}")


def validate(obj: dict[str, Any]) -> None:
    """Validate one rendered object; AssertionError (or the validator's own error) when it is invalid."""
    kind = obj["kind"]
    if kind == "ServiceMonitor":
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        jsonschema.validate(obj, servicemonitor_schema())
    elif kind == "InferenceService":
        assert obj["apiVersion"] == "serving.kserve.io/v1beta1"
        check_sdk_model(obj, "V1beta1InferenceService", kind)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
