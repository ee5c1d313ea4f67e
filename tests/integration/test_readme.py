"""The README's commands and code stay true: its make targets exist and its Python block runs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_make_command_in_the_readme_is_a_target() -> None:
    commands = set(re.findall(r"make ([a-z]+)", README))
    assert {"serve", "test"} <= commands
    for target in sorted(commands):
        result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"make {target}: {result.stderr}"


def test_the_training_commands_in_the_readme_parse() -> None:
    from training.cli import build_parser

    lines = re.findall(r"^\.venv/bin/python -m training (.+?)(?:\s+#.*)?$", README, flags=re.MULTILINE)
    assert len(lines) >= 5
    for line in lines:
        build_parser().parse_args(line.split())


def test_bring_your_own_model_block_runs(tmp_path: Path) -> None:
    block = re.search(r"```python\n(.*?)```", README, flags=re.DOTALL)
    assert block is not None
    # Run as a user would: the block saved to a file (TorchScript reads the module's source from it), in a
    # fresh folder, where it writes artifacts/my_wine_net/; then the README's archive command.
    (tmp_path / "byo.py").write_text(block.group(1), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    python = str(ROOT / ".venv/bin/python")
    trained = subprocess.run([python, "byo.py"], cwd=tmp_path, capture_output=True, text=True, check=False, env=env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (tmp_path / "artifacts" / "my_wine_net" / "model.pt").is_file()
    archived = subprocess.run([python, "-m", "serving.archive", "my_wine_net", "--store", "store"], cwd=tmp_path,
                              capture_output=True, text=True, check=False, env=env)
    assert archived.returncode == 0, archived.stderr
    assert (tmp_path / "store" / "my_wine_net.mar").is_file()
