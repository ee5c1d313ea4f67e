"""The locustfile: one weighted user class per model of the mix, configured by environment variables.
Imported in a subprocess: importing Locust monkey-patches the standard library with gevent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from training import registry

LOADTESTS = Path(__file__).resolve().parents[3] / "loadtests"
PROBE = ("import json, locust, loadtests.locustfile as f; "
         "print(json.dumps({n: [c.model, c.weight] for n, c in vars(f).items() "
         "if isinstance(c, type) and issubclass(c, locust.User) and not c.abstract}))")


def _classes(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **env})


def test_the_mix_covers_exactly_the_curriculum() -> None:
    weights = tomllib.loads((LOADTESTS / "mix.toml").read_text())["weights"]
    assert sorted(weights) == sorted(registry.names())
    assert all(isinstance(w, int) and w > 0 for w in weights.values())


def test_one_user_class_per_model_with_its_weight() -> None:
    result = _classes()
    assert result.returncode == 0, result.stderr
    classes = json.loads(result.stdout)
    mix = tomllib.loads((LOADTESTS / "mix.toml").read_text())
    weights = mix["weights"]
    assert {m: w for n, (m, w) in classes.items() if not n.endswith("StreamUser")} == weights
    assert classes["CnnDigitsUser"] == ["cnn_digits", weights["cnn_digits"]]
    assert {n: c for n, c in classes.items() if n.endswith("StreamUser")} == {
        "CharRnnStreamUser": ["char_rnn", mix["streams"]["char_rnn"]]}


def test_streaming_users_call_the_gateway_only() -> None:
    result = _classes(LOADTEST_TARGET="torchserve")
    assert result.returncode == 0, result.stderr
    assert not [n for n in json.loads(result.stdout) if n.endswith("StreamUser")]


def test_models_narrow_the_mix_and_a_stranger_is_refused() -> None:
    narrowed = _classes(LOADTEST_MODELS="char_rnn, mlp_classifier")
    assert sorted(json.loads(narrowed.stdout)) == ["CharRnnStreamUser", "CharRnnUser", "MlpClassifierUser"]
    refused = _classes(LOADTEST_MODELS="resnet_1000")
    assert refused.returncode != 0
    assert "LOADTEST_MODELS names models the mix does not have: resnet_1000" in refused.stderr


def test_another_mix_file_is_read(tmp_path: Path) -> None:
    mix = tmp_path / "mix.toml"
    mix.write_text("[weights]\ndqn_cartpole = 7\n")
    assert json.loads(_classes(LOADTEST_MIX=str(mix)).stdout) == {"DqnCartpoleUser": ["dqn_cartpole", 7]}
