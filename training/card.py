"""Model cards (Mitchell et al., 2019) rendered from the registry entry and the run's figures."""

from __future__ import annotations

from typing import Any

from training.registry import ModelSpec


def render_card(spec: ModelSpec, signature: dict[str, Any], metrics: dict[str, Any]) -> str:
    """Markdown for model_card.md."""
    floor = metrics["floor"]
    verdict = "holds" if metrics["passed"] else "DOES NOT HOLD"
    figures = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(metrics["metrics"].items()))
    tensors = "\n".join(
        f"| {direction} | `{t['name']}` | {t['dtype']} | {t['shape']} |"
        for direction, group in (("input", signature["inputs"]), ("output", signature["outputs"]))
        for t in group
    )
    return f"""# Model card: {spec.name} (version {signature['version']})

{spec.summary}

- **Kind:** {spec.kind}
- **Curriculum chapter:** {spec.chapter}
- **Data:** `{signature.get("dataset", spec.dataset)}` (offline; held-out split used for every figure below)
- **Training profile:** {metrics["profile"]}, seed {metrics["seed"]}, device {metrics["device"]}
- **Hyperparameters from:** {spec.hparams_source}

## Intended use
{spec.card.intended_use}

## Signature
| direction | name | dtype | shape (-1 = any) |
|---|---|---|---|
{tensors}

## Metrics
Floor: {floor["description"]} — `{floor["metric"]}` = {metrics["achieved"]:.4f}, \
threshold {floor["threshold"]}: **{verdict}**.

| metric | value |
|---|---|
{figures}

## Runtimes
{_runtimes(spec, signature, metrics)}

## Limitations
{spec.card.limitations}

## Ethical considerations
{spec.card.ethics}
"""


def _runtimes(spec: ModelSpec, signature: dict[str, Any], metrics: dict[str, Any]) -> str:
    """Each exported runtime with its file and parity against eager (batch 1 and 17), then what is not exported."""
    checked = metrics.get("runtimes", {})
    rows = "\n".join(
        f"| {name} | `{entry['file']}` | {checked.get(name, {}).get('parity_max_abs_diff', float('nan')):.3g} | "
        f"{checked.get(name, {}).get('tolerance', float('nan')):.2g} |"
        for name, entry in signature.get("runtimes", {}).items()
    )
    default = signature.get("default_runtime", "torchscript")
    note = spec.export_note or "Each file holds the whole model; the handler adds only decoding and encoding."
    return (f"Served by default on **{default}** (docs/runtimes.md measures each).\n\n"
            f"| runtime | file | max abs diff vs eager | tolerance |\n|---|---|---|---|\n{rows}\n\n"
            "Parity is checked at batch 1 and 17. The tolerance is 1e-5; for model.pt2 and model.onnx it adds "
            "1e-6 × the largest output, because their kernels sum in another order than eager's and float32 keeps "
            f"about seven significant digits (an output in the hundreds differs in its fifth decimal).\n\n{note}"
            f"{_explanation(signature, metrics)}")


def _explanation(signature: dict[str, Any], metrics: dict[str, Any]) -> str:
    """How the model explains on runtimes without gradients: its explanation program and that program's parity."""
    entry = signature.get("explanation")
    if not entry:
        return ""
    checked = metrics.get("explanation", {})
    return (f"\n\nExplanations (Integrated Gradients) on every runtime: on TorchScript the served module gives the "
            f"gradients; an archive on ONNX Runtime or AOTInductor carries `{entry['file']}`, {entry['format']}'s "
            "program of the eager module, which loads as a differentiable module without TorchScript. Against eager "
            f"at batch 1 and 17: outputs within {checked.get('parity_max_abs_diff', float('nan')):.3g}, input "
            f"gradients within {checked.get('gradient_max_abs_diff', float('nan')):.3g} (tolerance "
            f"{checked.get('tolerance', float('nan')):.2g} and {checked.get('gradient_tolerance', float('nan')):.2g}).")
