"""The foreground runtime's log follower: whole lines only, each once, from where the log was at start."""

from __future__ import annotations

import io
from pathlib import Path

from serving.modelserver.foreground import ConsoleFollower
from serving.modelserver.paths import ServerPaths


def test_follower_copies_new_whole_lines_once(tmp_path: Path) -> None:
    paths = ServerPaths(tmp_path)
    paths.logs.mkdir()
    paths.console_log.write_text("from an earlier run\n")
    out = io.StringIO()
    follower = ConsoleFollower(paths, out)
    follower.pump()
    assert out.getvalue() == ""
    with paths.console_log.open("a") as log:
        log.write("started\nhalf a li")
    follower.pump()
    assert out.getvalue() == "started\n"
    with paths.console_log.open("a") as log:
        log.write("ne\n")
    follower.pump()
    follower.pump()
    assert out.getvalue() == "started\nhalf a line\n"


def test_follower_waits_for_a_log_that_does_not_exist_yet(tmp_path: Path) -> None:
    paths = ServerPaths(tmp_path)
    out = io.StringIO()
    follower = ConsoleFollower(paths, out)
    follower.pump()
    paths.logs.mkdir()
    paths.console_log.write_text("first\n")
    follower.pump()
    assert out.getvalue() == "first\n"
