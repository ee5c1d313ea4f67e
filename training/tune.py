"""Hyperparameter search: a seeded random sample of the spec's grid, scored on a validation split."""

from __future__ import annotations

import itertools
import random
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from training.pipeline import RunOptions, train_and_export
from training.registry import ModelSpec


def candidates(spec: ModelSpec, trials: int, seed: int) -> list[dict[str, Any]]:
    """Up to `trials` distinct points of the grid, in a seeded random order (the defaults first)."""
    keys = sorted(spec.search_space)
    grid = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(spec.search_space[k] for k in keys))]
    random.Random(seed).shuffle(grid)
    defaults = {k: spec.hparams[k] for k in keys}
    ordered = [defaults] + [point for point in grid if point != defaults]
    return ordered[:trials]


def tune(spec: ModelSpec, options: RunOptions, trials: int, report_dir: Path) -> Path:
    """Train each candidate, score it on the validation split, and write a Markdown table of the trials."""
    floor = spec.floor
    metric = spec.tune_metric or floor.metric
    higher = floor.higher_is_better if metric == floor.metric else True
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
    options = replace(options, runtimes=("torchscript",))  # trials compare weights, not runtimes
    with tempfile.TemporaryDirectory(prefix=f"tune-{spec.name}-") as scratch:
        for point in candidates(spec, trials, options.seed):
            metrics = train_and_export(spec.name, options, point, holdout="validation",
                                       folder=Path(scratch) / spec.name)
            rows.append((point, metrics))
            print(f"{spec.name} {point} → {metric}={metrics['metrics'][metric]:.4f}", flush=True)
    # Ties go to the earliest trial, and the current defaults are tried first: a change must win outright.
    # (Not to the faster run: seconds vary with whatever else shares the machine; the scores do not.)
    best = (max if higher else min)(rows, key=lambda row: row[1]["metrics"][metric])
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"{spec.name}.md"
    path.write_text(_table(spec, options, rows, best[0], metric), encoding="utf-8")
    return path


def _table(spec: ModelSpec, options: RunOptions, rows: list[tuple[dict[str, Any], dict[str, Any]]],
           best: dict[str, Any], metric: str) -> str:
    keys = sorted(spec.search_space)
    figures = sorted(rows[0][1]["metrics"])
    head = "| " + " | ".join([*keys, *figures, "seconds", ""]) + " |"
    rule = "|" + "---|" * (len(keys) + len(figures) + 2)
    lines = [
        f"# Tuning {spec.name}",
        "",
        f"`python -m training tune {spec.name} --trials {len(rows)} --profile {options.profile} "
        f"--seed {options.seed}`: {len(rows)} trials from the grid below, scored on a validation split carved "
        "from the training data (the test split is never used to choose). Floor: "
        f"{spec.floor.description}. Trials are ranked by `{metric}`. Defaults when tuned: "
        + ", ".join(f"`{k}={spec.hparams[k]}`" for k in keys) + ".",
        "",
        "Grid: " + "; ".join(f"`{k}` ∈ {list(spec.search_space[k])}" for k in keys),
        "",
        head,
        rule,
    ]
    for point, metrics in rows:
        mark = "best" if point == best else ""
        cells = ([str(point[k]) for k in keys] + [f"{metrics['metrics'][f]:.4g}" for f in figures]
                 + [f"{metrics['train_seconds']:.1f}", mark])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
