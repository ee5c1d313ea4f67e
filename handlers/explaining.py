"""Explanations: Captum's Integrated Gradients for the classifiers and regressors, behind TorchServe's own
explanations API (`POST /explanations/{model}` marks the request with the header `explain: True`).

IG attributes `f(x)[target] − f(baseline)[target]` to the inputs by integrating the gradient along the straight
line from the baseline to x. Completeness says the attributions sum to that difference; what is left over is the
integral's numerical error, which every answer reports as `convergence_delta` so a client can judge it."""

from dataclasses import dataclass
from typing import Any

import torch

from handlers.checks import integer
from handlers.errors import InvalidInput

DEFAULT_STEPS = 64
MAX_STEPS = 256  # each step is one forward and backward pass; 256 keep the slowest model (transfer_cnn) in seconds
MAX_ROWS = 16  # tabular rows per explanation request (images: one per request)
# Gauss-Legendre quadrature: exact for polynomials of degree < 2·steps along the path, so smooth models converge
# in far fewer steps than with Riemann sums.
METHOD = "gausslegendre"


@dataclass(frozen=True)
class Options:
    """What a client may choose: the output to explain (None: the predicted one) and the number of steps."""

    target: int | None
    steps: int


@dataclass(frozen=True)
class Attribution:
    """IG's answer for a batch of inputs, one row per input."""

    attributions: torch.Tensor  # shaped like the inputs
    predicted: list[int]  # the highest output, per input
    targets: list[int]  # the output index explained, per input
    scores: list[float]  # f(x)[target]
    baseline_scores: list[float]  # f(baseline)[target]
    deltas: list[float]  # sum(attributions) − (score − baseline score)


def options(fields: dict[str, Any], labels: list[str] | None) -> Options:
    """The request's `target` (a label name or index; classifiers only) and `steps`, validated."""
    steps = integer(fields.get("steps", DEFAULT_STEPS), "steps", 1, MAX_STEPS)
    target = fields.get("target")
    if target is None:
        return Options(None, steps)
    if labels is None:
        raise InvalidInput("'target' is for classifiers; a regression model has one output to explain")
    if isinstance(target, str) and target in labels:
        return Options(labels.index(target), steps)
    if isinstance(target, str):
        raise InvalidInput(f"'target' must be one of the labels {labels} or an index, got {target[:40]!r}")
    return Options(integer(target, "target", 0, len(labels) - 1), steps)


def integrated_gradients(model: Any, inputs: torch.Tensor, baselines: torch.Tensor, requested: int | None,
                         steps: int) -> Attribution:
    """IG of each input against its baseline, for output `requested` or else the input's highest output."""

    def outputs(x: torch.Tensor) -> torch.Tensor:
        answer: torch.Tensor = model(x)
        return answer.reshape(len(x), -1)  # a regressor's [B] becomes [B, 1]: one output to explain

    try:  # imported here, so that predictions run in a TorchServe without Captum
        from captum.attr import IntegratedGradients
    except ImportError:
        raise InvalidInput("explanations need Captum in the model server (pip install captum)", 501) from None
    # The explanation needs gradients, so it runs outside the inference mode that predictions use.
    with torch.inference_mode(False), torch.enable_grad():
        inputs, baselines = inputs.clone().requires_grad_(), baselines.clone()
        with torch.no_grad():
            at_inputs, at_baselines = outputs(inputs), outputs(baselines)
        predicted = at_inputs.argmax(dim=1).tolist()
        targets = [requested] * len(inputs) if requested is not None else predicted
        attributions, delta = IntegratedGradients(outputs).attribute(
            inputs, baselines=baselines, target=targets, n_steps=steps, method=METHOD,
            return_convergence_delta=True)
    rows = torch.arange(len(inputs))
    index = torch.tensor(targets)
    return Attribution(attributions.detach(), predicted, targets, at_inputs[rows, index].tolist(),
                       at_baselines[rows, index].tolist(), delta.detach().reshape(-1).tolist())


def summary(result: Attribution, row: int, labels: list[str] | None) -> dict[str, Any]:
    """The fields every explanation carries for one input besides its attributions: for a classifier the
    predicted and the explained label, for a regressor the prediction; the scores and the delta."""
    scores = {"score": result.scores[row], "baseline_score": result.baseline_scores[row],
              "convergence_delta": result.deltas[row]}
    if labels is None:
        return {"prediction": result.scores[row], **scores}
    return {"label": labels[result.predicted[row]], "target": labels[result.targets[row]], **scores}


def body(rows: list[dict[str, Any]], many: bool, steps: int) -> dict[str, Any]:
    """The answer: one input's fields as they are, several inputs' as lists (as predictions answer)."""
    fields = rows[0] if not many else {key: [row[key] for row in rows] for key in rows[0]}
    return {**fields, "method": "integrated_gradients", "steps": steps}
