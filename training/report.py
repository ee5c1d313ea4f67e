"""docs/training.md from the artifacts' metrics.json files: the figures of a run, never typed by hand."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from training import artifacts, registry


def render(artifacts_dir: Path) -> str:
    """A Markdown table of every registered model's latest run, with the machine it ran on."""
    rows, total = [], 0.0
    for name in registry.names():
        path = artifacts_dir / name / artifacts.METRICS_FILE
        if not path.is_file():
            rows.append(f"| `{name}` | — | — | — | not trained | — |")
            continue
        m = artifacts.read_json(path)
        floor = m["floor"]
        sign = "≥" if floor["higher_is_better"] else "≤"
        others = ", ".join(f"{k} {v:.4g}" for k, v in m["metrics"].items() if k != floor["metric"])
        verdict = "holds" if m["passed"] else "**misses**"
        rows.append(f"| `{name}` | `{floor['metric']}` {sign} {floor['threshold']} | {m['achieved']:.4f} | "
                    f"{verdict} | {others} | {m['train_seconds']:.1f} |")
        total += float(m["train_seconds"])
        profile, device, torch_version = m["profile"], m["device"], m["torch"]
    return "\n".join([
        "# Training run",
        "",
        "Written by `python -m training report` from `artifacts/*/metrics.json`. "
        f"Profile `{profile}`, device `{device}`, torch {torch_version}, {os.cpu_count()} CPU cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}.",
        "",
        "| model | floor | achieved | floor | other figures | train s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Training time of the eight models: {total:.0f} s (export and checks add a few seconds).",
        "",
    ])
