"""The policy file: applied when it changes, and an invalid one refused with the old policy kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.gateway.core.lifecycle.policy import ModelPolicy, PolicyError, Split
from serving.gateway.core.lifecycle.policy_file import MAX_POLICY_BYTES, PolicyWatcher, load

KNOWN = {"mlp_classifier": {"1.0", "1.1"}}
GOOD = """models:
  mlp_classifier:
    default: "1.0"
    canary: {version: "1.1", percent: 10}
"""


def watcher(path: Path, refusals: list[str]) -> PolicyWatcher:
    return PolicyWatcher(path, lambda: KNOWN, refusals.append)


def test_a_valid_file_is_applied_and_an_unchanged_one_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    refusals: list[str] = []
    w = watcher(path, refusals)
    assert w.check() is True
    assert w.current.models == {"mlp_classifier": ModelPolicy("1.0", Split("1.1", 10.0))}
    assert w.check() is False
    assert refusals == []


@pytest.mark.parametrize(("text", "message"), [
    ("models: [unclosed", "the policy is not valid YAML"),
    ("models:\n  mlp_classifier: {default: '2.0'}\n", "mlp_classifier: default version '2.0' is not served"),
    ("models:\n  mlp_classifier: {default: '1.0', canary: {version: '1.1', percent: -1}}\n",
     "mlp_classifier: canary percent must be a number from 0 to 100, got -1"),
])
def test_an_invalid_file_is_refused_and_the_old_policy_stays_in_force(tmp_path: Path, text: str,
                                                                      message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    refusals: list[str] = []
    w = watcher(path, refusals)
    w.check()
    before = w.current
    path.write_text(text)
    assert w.check() is False
    assert w.current == before
    assert len(refusals) == 1
    assert refusals[0].startswith(message)
    assert w.last_error == refusals[0]
    assert w.check() is False
    assert len(refusals) == 1, "the same bad file is refused once, not at every poll"
    path.write_text(GOOD.replace("percent: 10", "percent: 20"))
    assert w.check() is True
    assert w.current.models["mlp_classifier"].canary == Split("1.1", 20.0)
    assert w.last_error is None


def test_a_missing_file_keeps_the_old_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    refusals: list[str] = []
    w = watcher(path, refusals)
    w.check()
    path.unlink()
    assert w.check() is False
    assert w.current.models["mlp_classifier"].default == "1.0"
    assert refusals == [f"cannot read the policy file {path}: No such file or directory"]


def test_an_empty_file_is_an_empty_policy_and_an_oversized_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("")
    assert load(path, KNOWN).models == {}
    path.write_text("#" * (MAX_POLICY_BYTES + 1))
    with pytest.raises(PolicyError, match=f"the policy is over {MAX_POLICY_BYTES} bytes"):
        load(path, KNOWN)
