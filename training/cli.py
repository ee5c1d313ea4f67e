"""Command line: list, train (and export) and tune the curriculum's models.

Usage errors (unknown model, bad profile, missing data directory …) print one line and exit with 2;
a floor that does not hold exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from serving import versions
from training import artifacts, explanation, registry
from training.exporters import ExportError
from training.pipeline import DEFAULT_ARTIFACTS, DEFAULT_SEED, RunOptions, train_and_export, train_order

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input from the user: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser (exposed so the docs and tests can read its help)."""
    parser = _Parser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the registered models")

    train = sub.add_parser("train", help="train, export to every runtime and check; writes artifacts/<model>/")
    train.add_argument("--runtimes", nargs="+", choices=registry.RUNTIMES, default=None,
                       help="export only these runtimes beside TorchScript (default: every one the registry "
                            "lists; AOTInductor's gcc compile is the slow step)")
    train.add_argument("models", nargs="*", help="models to train (default: all)")
    train.add_argument("--missing", action="store_true",
                       help="only models whose artifacts are missing or stale (other hyperparameters, profile or "
                            "seed); an up-to-date one gets what it lacks without retraining (its explanation program, "
                            "re-exported from model.pt, and the registry's serving hints)")
    train.add_argument("--version", help="the artifacts' version, carried in signature.json and the archive "
                       "(default: the registry's, 1.0); archive it with `python -m serving.archive --version`")
    train.add_argument("--pretrained-weights", type=Path,
                       help="transfer_cnn: start from a local torchvision ResNet state dict instead of pretraining")
    _common(train)

    report = sub.add_parser("report", help="write the figures of the artifacts' last run as Markdown")
    report.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS)
    report.add_argument("--out", type=Path, default=Path("docs/training.md"))

    tune = sub.add_parser("tune", help="grid search over a model's search space; writes a table of trials")
    tune.add_argument("model")
    tune.add_argument("--trials", type=_positive, default=8)
    tune.add_argument("--report", type=Path, default=Path("docs/tuning"), help="folder for the trials table")
    _common(tune)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=registry.PROFILES, default="quick")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS, help="artifact root (default: artifacts)")
    p.add_argument("--data-dir", type=Path, help="local dataset root for --dataset mnist|fashion_mnist|cifar10")
    p.add_argument("--dataset", help="train an image classifier on a local standard dataset instead")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs with numbers parsed as numbers."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        out[key] = value
    return out


def options_from(args: argparse.Namespace) -> RunOptions:
    """Validate the flags shared by train and tune."""
    from training.data.local import LOCAL_DATASETS

    if args.dataset is not None:
        if args.dataset not in (*LOCAL_DATASETS, "digits"):
            raise UsageError(f"unknown --dataset {args.dataset!r}; choose one of {', '.join(LOCAL_DATASETS)}")
        if args.dataset != "digits" and args.data_dir is None:
            raise UsageError(f"--dataset {args.dataset} needs --data-dir (the folder that holds it)")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise UsageError(f"data directory not found: {args.data_dir}")
    from training.runtime import pick_device

    try:
        pick_device(args.device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"bad --device {args.device!r}: {exc}") from None
    version = getattr(args, "version", None)
    if version is not None and not versions.is_valid(version):
        raise UsageError(f"--version {version[:40]!r} must be numbers and letters separated by dots, e.g. 1.1")
    runtimes = getattr(args, "runtimes", None)
    return RunOptions(args.profile, args.device, args.seed, args.artifacts, args.data_dir, args.dataset,
                      progress=not args.quiet, version=version, runtimes=tuple(runtimes) if runtimes else None)


def _train(args: argparse.Namespace) -> int:
    options = options_from(args)
    overrides = parse_overrides(args.overrides)
    if args.pretrained_weights is not None:
        if not args.pretrained_weights.is_file():
            raise UsageError(f"pretrained weights file not found: {args.pretrained_weights}")
        overrides["pretrained_weights"] = str(args.pretrained_weights)
    requested = args.models or registry.names()
    for name in requested:
        spec = _spec(name)
        if options.dataset and spec.kind != registry.Kind.IMAGE_CLASSIFICATION:
            raise UsageError(f"--dataset applies to image classifiers; {name} is {spec.kind}")
        try:
            spec.hparams_for(options.profile, overrides)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    failed = []
    for name in train_order(requested):
        folder = options.artifacts_dir / name
        model_overrides = overrides if name in requested else None
        if (name not in requested or args.missing) and _up_to_date(folder, name, options, model_overrides,
                                                                   check_version=name in requested):
            try:  # before the serving hints, which may move the default to a runtime that needs the program
                added = explanation.add_missing(folder, registry.get(name))
            except ExportError as exc:  # the artifact keeps its runtimes and default; the other models go on
                print(f"{name:22s} explanation program not exported: {exc}", file=sys.stderr, flush=True)
                failed.append(name)
                continue
            refreshed = artifacts.sync_serving(folder, registry.get(name))
            notes = [note for note, done in (("explanation program exported from model.pt", added),
                                             ("serving hints refreshed", refreshed)) if done]
            print(f"{name:22s} artifacts up to date in {folder}, skipped"
                  + (f" ({'; '.join(notes)})" if notes else ""), flush=True)
            continue
        # Only the models asked for take --version; a dependency trained on the way keeps the registry's.
        try:
            metrics = train_and_export(name, options if name in requested else replace(options, version=None),
                                       model_overrides)
        except ExportError as exc:  # the artifact folder is left as it was; the other models still train
            print(f"{name:22s} not exported: {exc}", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        print(_summary_line(metrics), flush=True)
        if metrics["floor"]["applies"] and not metrics["passed"]:
            failed.append(name)
    if failed:
        print(f"floor not met or export failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _up_to_date(folder: Path, name: str, options: RunOptions, overrides: dict[str, Any] | None,
                check_version: bool = True) -> bool:
    """Complete artifacts trained with the same profile, seed, dataset and hyperparameters as asked now (and the
    same version, for a model asked for by name: a dependency's version does not matter)."""
    if not artifacts.is_complete(folder):
        return False
    done = artifacts.read_json(folder / artifacts.METRICS_FILE)
    wanted = registry.get(name).hparams_for(options.profile, overrides)
    signature = artifacts.read_json(folder / artifacts.SIGNATURE_FILE)
    if signature.get("artifact_format") != artifacts.FORMAT_VERSION:
        return False
    if check_version and signature.get("version") != (options.version or registry.get(name).version):
        return False
    dataset = signature["dataset"]
    runtimes = [r for r in registry.get(name).runtimes if options.runtimes is None or r in options.runtimes]
    if not set(runtimes) <= set(signature.get("runtimes", {})):
        return False
    return (done.get("hparams") == wanted and done.get("profile") == options.profile
            and done.get("seed") == options.seed and dataset == (options.dataset or registry.get(name).dataset))


def _summary_line(m: dict[str, Any]) -> str:
    floor = m["floor"]
    sign = "≥" if floor["higher_is_better"] else "≤"
    verdict = ("ok" if m["passed"] else "FAIL") if floor["applies"] else "n/a (other dataset)"
    return (f"{m['model']:22s} {floor['metric']}={m['achieved']:.4f} (floor {sign} {floor['threshold']}) "
            f"{verdict:4s} {m['train_seconds']:6.1f}s")


def _spec(name: str) -> registry.ModelSpec:
    try:
        return registry.get(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _tune(args: argparse.Namespace) -> int:
    from training.tune import tune

    options = options_from(args)
    spec = _spec(args.model)
    if not spec.search_space:
        raise UsageError(f"{spec.name} has no search space to tune")
    report = tune(spec, options, args.trials, args.report)
    print(f"wrote {report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            for name in registry.names():
                spec = registry.get(name)
                print(f"{name:22s} {spec.kind:24s} {spec.dataset:14s} {spec.summary}")
            return 0
        if args.command == "report":
            from training.report import render

            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(render(args.artifacts), encoding="utf-8")
            print(f"wrote {args.out}")
            return 0
        return _train(args) if args.command == "train" else _tune(args)
    except (UsageError, FileNotFoundError) as exc:  # a missing dataset file is bad input too
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
