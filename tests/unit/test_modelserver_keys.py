"""key_file.json parsing: the format TorchServe 0.12 writes, and clear errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.modelserver.errors import ModelServerError
from serving.modelserver.keys import TokenKeys, parse_keys, read_keys

# As TorchServe 0.12.0 writes it (keys from a real run; they are random per start)
KEY_FILE = """{
  "management": {
    "key": "g1O9K5ZC",
    "expiration time": "2026-11-29T10:53:13.827750155Z"
  },
  "inference": {
    "key": "Er1y-ZLa",
    "expiration time": "2026-11-29T10:53:13.827741923Z"
  },
  "API": {
    "key": "eow5z3C4"
  }
}"""


def test_read_keys(tmp_path: Path) -> None:
    (tmp_path / "key_file.json").write_text(KEY_FILE, encoding="utf-8")
    keys = read_keys(tmp_path)
    assert keys == TokenKeys(inference="Er1y-ZLa", management="g1O9K5ZC")
    assert keys.inference_headers() == {"Authorization": "Bearer Er1y-ZLa"}
    assert keys.management_headers() == {"Authorization": "Bearer g1O9K5ZC"}


def test_keys_stay_out_of_repr() -> None:
    keys = parse_keys(KEY_FILE)
    assert "Er1y" not in repr(keys)
    assert "g1O9" not in str(keys)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ModelServerError, match=f"{tmp_path / 'key_file.json'} does not exist: is TorchServe "
                                               "running\\?"):
        read_keys(tmp_path)


@pytest.mark.parametrize(("text", "match"), [
    ('{"management": {"key": "m"}, "inf', r"malformed \(JSONDecodeError"),
    ('{"management": {"key": "m"}}', r"malformed \(KeyError: 'inference'\)"),
    ('{"management": {"key": "m"}, "inference": "i"}', r"malformed \(TypeError"),
    (json.dumps({"management": {"key": "m"}, "inference": {"key": ""}}), "empty or non-string key"),
    (json.dumps({"management": {"key": 7}, "inference": {"key": "i"}}), "empty or non-string key"),
])
def test_malformed_key_files(text: str, match: str) -> None:
    with pytest.raises(ModelServerError, match=match):
        parse_keys(text)
