"""`python -m serving.admin`: each action through the admin API; bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.admin.__main__ import main
from tests.unit.lifecycle.admin_app import ADMIN_KEY, admin_app


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", ADMIN_KEY)
    return ADMIN_KEY


def test_register_canary_promote_and_unregister_from_the_command_line(
        tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    app, control, server = admin_app(tmp_path)
    steps = [
        (["register", "m-1.1.mar", "--workers", "2"], {"name": "m", "version": "1.1", "workers": 2}),
        (["policy", "m", "--default", "1.0", "--canary", "1.1:10"],
         {"name": "m", "policy": {"default": "1.0", "canary": {"version": "1.1", "percent": 10.0}}}),
        (["promote", "m"], {"name": "m", "policy": {"default": "1.1"}}),
        (["workers", "m", "1.1", "3"], {"name": "m", "version": "1.1", "workers": 3}),
        (["unregister", "m", "1.0"], {"name": "m", "version": "1.0", "unregistered": True}),
    ]
    for argv, expected in steps:
        assert main(argv, TestClient(app)) == 0, argv
        assert json.loads(capsys.readouterr().out) == expected
    assert main(["list"], TestClient(app)) == 0
    assert json.loads(capsys.readouterr().out) == {"models": [{"name": "m", "default": "1.1", "policy": {
        "default": "1.1"}, "versions": [{"version": "1.1", "in_flight": 0}]}]}
    assert [c[0] for c in server.calls] == ["POST", "PUT", "PUT", "DELETE"]


@pytest.mark.parametrize(("argv", "message"), [
    (["register", "https://evil.example/x.mar"], "archive 'https://evil.example/x.mar' is a URL; only archives "
                                                 "already in the model store can be registered, by file name"),
    (["register", "m-1.1.mar", "--workers", "0"], "a worker count is a whole number from 1 to 64, got '0'"),
    (["workers", "m", "../1.0", "2"], "version '../1.0' must be numbers and letters separated by dots, e.g. 1.1"),
    (["policy", "m", "--default", "1.0", "--canary", "1.1"],
     "a split is VERSION:PERCENT with a percent from 0 to 100, e.g. 1.1:10; got '1.1'"),
    (["policy", "m", "--default", "1.0", "--canary", "1.1:150"],
     "a split is VERSION:PERCENT with a percent from 0 to 100, e.g. 1.1:10; got '1.1:150'"),
    (["policy", "m", "--default", "7.0"], "m: default version '7.0' is not served (served: 1.0)"),
    (["unregister", "m", "1.0"], "m 1.0 is in the traffic policy; promote or roll back first"),
    (["promote", "nope"], "model 'nope' not found"),
    (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    app, _, server = admin_app(tmp_path)
    assert main(argv, TestClient(app)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {message}")
    assert captured.err.count("\n") == 1


def test_a_missing_or_wrong_key_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    app, _, _ = admin_app(tmp_path)
    monkeypatch.delenv("GATEWAY_ADMIN_KEY", raising=False)
    assert main(["list"], TestClient(app)) == 2
    assert capsys.readouterr().err == "error: no admin key: set GATEWAY_ADMIN_KEY or pass --key-file\n"
    wrong = tmp_path / "key"
    wrong.write_text("not-the-admin-key-0123\n")
    assert main(["--key-file", str(wrong), "list"], TestClient(app)) == 2
    assert capsys.readouterr().err == "error: invalid admin key\n"


def test_a_gateway_that_cannot_carry_out_the_action_is_exit_1(tmp_path: Path, key: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    app, _, server = admin_app(tmp_path)
    server.refuse = "Failed to load model"
    assert main(["register", "m-1.1.mar"], TestClient(app)) == 1
    assert capsys.readouterr().err == "error: the model server refused POST /models: Failed to load model\n"
