"""Requests a tabular handler (3 features) must refuse with 400, each with a phrase its message must contain.

Rows are what TorchServe hands the handler: a JSON body already parsed under "body" (Python's json accepts
NaN and Infinity, so those arrive as floats), any other body as a bytearray."""

from __future__ import annotations

import pytest

NAN, INF = float("nan"), float("inf")

BAD_FEATURE_ROWS = [
    pytest.param({"body": {"features": [1, 2]}}, "'features' row 0 has 2 values; the model expects 3",
                 id="too-few-features"),
    pytest.param({"body": {"features": [1, 2, 3, 4]}}, "'features' row 0 has 4 values; the model expects 3",
                 id="too-many-features"),
    pytest.param({"body": {"features": [[1, 2, 3], [1, 2]]}}, "'features' row 1 has 2 values",
                 id="short-second-row"),
    pytest.param({"body": {"features": [NAN, 1, 2]}}, "'features[0]' must be finite", id="nan-parsed"),
    pytest.param({"body": {"features": [1, INF, 2]}}, "'features[1]' must be finite", id="infinity-parsed"),
    pytest.param({"body": {"features": [[1, 2, 3], [1, 2, -INF]]}}, "'features[1][2]' must be finite",
                 id="minus-infinity-in-second-row"),
    pytest.param({"body": bytearray(b'{"features":[NaN,1,2]}')}, "'features[0]' must be finite", id="nan-bytes"),
    pytest.param({"body": bytearray(b'{"features":[1,Infinity,2]}')}, "'features[1]' must be finite",
                 id="infinity-bytes"),
    pytest.param({"body": {"features": [1e39, 0, 0]}}, "within float32 range", id="beyond-float32"),
    pytest.param({"body": {"features": ["nan", 1, 2]}}, "'features[0]' must be finite", id="nan-string"),
    pytest.param({"body": {"features": ["a", 1, 2]}}, "'features[0]' must be a number, got 'a'", id="string"),
    pytest.param({"body": {"features": [True, 1, 2]}}, "'features[0]' must be a number, got bool", id="boolean"),
    pytest.param({"body": {"features": [1, None, 2]}}, "'features[1]' must be a number, got NoneType", id="null"),
    pytest.param({"body": {"features": [[1, 2, 3], [4, [5], 6]]}}, "'features[1][1]' must be a number, got list",
                 id="nested-junk"),
    pytest.param({"body": {"features": [1, {"x": 2}, 3]}}, "'features[1]' must be a number, got dict",
                 id="object-value"),
    pytest.param({"body": {"features": [[1, 2, 3], 4]}}, "must be a list of 3 numbers or a list of such lists",
                 id="row-and-number"),
    pytest.param({"body": {"features": {"a": 1}}}, "must be a list of 3 numbers", id="object-features"),
    pytest.param({"body": {"features": "1,2,3"}}, "must be a list of 3 numbers", id="string-features"),
    pytest.param({"body": {"features": []}}, "'features' row 0 has 0 values", id="empty-features"),
    pytest.param({"body": {"features": [[1, 2, 3]] * 257}}, "has 257 rows; at most 256 per request",
                 id="too-many-rows"),
    pytest.param({"body": {"feature": [1, 2, 3]}}, "missing field 'features'", id="missing-field"),
    pytest.param({"body": {}}, "missing field 'features'", id="empty-object"),
    pytest.param({"body": bytearray()}, "empty request body", id="empty-body"),
    pytest.param({}, "empty request", id="empty-row"),
    pytest.param({"body": bytearray(b'{"features": [1, 2,')}, "malformed JSON", id="malformed-json-bytes"),
    pytest.param({"body": bytearray(b"\xff\xfe{")}, "missing field 'features'", id="binary-junk"),
    pytest.param({"body": [[1, 2, 3]]}, "the JSON body must be an object, not a list", id="json-list-parsed"),
    pytest.param({"body": bytearray(b"[[1, 2, 3]]")}, "the JSON body must be an object", id="json-list-bytes"),
    pytest.param({"body": 3}, "the JSON body must be an object, not int", id="json-number"),
]
