"""The export checks: batch resizing, signature checks and eager/TorchScript parity."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from training.export import (
    CHECK_BATCH_SIZES,
    PARITY_TOLERANCE,
    as_tuple,
    check_parity,
    check_signature,
    to_torchscript,
    torchscript_deprecation_silenced,
    with_batch,
)
from training.models.layers import Softmax
from training.registry import TensorSpec

FEATURES = TensorSpec("features", "float32", (-1, "n_features")).resolve({"n_features": 3})
PROBABILITIES = TensorSpec("probabilities", "float32", (-1, "n_classes")).resolve({"n_classes": 2})


def _classifier(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 2), Softmax()).eval()


def _script(module: nn.Module) -> Any:
    with torchscript_deprecation_silenced():
        return torch.jit.script(module)


def _examples() -> tuple[torch.Tensor, ...]:
    return (torch.arange(12, dtype=torch.float32).reshape(4, 3),)


class FirstRowOnly(nn.Module):
    """Answers with one row whatever the batch: right at batch 1, wrong at 17."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x[:1, :2], dim=-1)


class TwoOutputs(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.softmax(x[:, :2], dim=-1), x


def test_check_batch_sizes_are_one_and_seventeen() -> None:
    assert CHECK_BATCH_SIZES == (1, 17)


def test_with_batch_cuts_to_one_row() -> None:
    tokens = torch.tensor([[1, 2], [3, 4], [5, 6], [7, 8]])
    state = torch.arange(8, dtype=torch.float32).reshape(4, 1, 2)
    cut_tokens, cut_state = with_batch((tokens, state), 1)
    assert torch.equal(cut_tokens, tokens[:1])
    assert torch.equal(cut_state, state[:1])
    assert cut_tokens.dtype == torch.int64


def test_with_batch_tiles_to_seventeen_rows() -> None:
    tokens = torch.tensor([[1, 2], [3, 4], [5, 6], [7, 8]])
    state = torch.arange(8, dtype=torch.float32).reshape(4, 1, 2)
    tiled_tokens, tiled_state = with_batch((tokens, state), 17)
    assert tiled_tokens.shape == (17, 2)
    assert tiled_state.shape == (17, 1, 2)
    rows = [i % 4 for i in range(17)]
    assert torch.equal(tiled_tokens, tokens[rows])
    assert torch.equal(tiled_state, state[rows])


def test_with_batch_of_a_one_dimensional_input() -> None:
    (digits,) = with_batch((torch.tensor([4, 7]),), 5)
    assert digits.tolist() == [4, 7, 4, 7, 4]


def test_check_signature_passes_for_a_matching_module() -> None:
    check_signature(_script(_classifier()), _examples(), [FEATURES], [PROBABILITIES])


def test_check_signature_accepts_free_dimensions() -> None:
    free = {"name": "echo", "dtype": "float32", "shape": [-1, -1]}
    check_signature(_script(TwoOutputs()), _examples(), [FEATURES], [PROBABILITIES, free])


def test_check_signature_rejects_a_wrong_output_dtype() -> None:
    wrong = {**PROBABILITIES, "dtype": "int64"}
    message = r"output 'probabilities': got float32 \[1, 2\], signature says int64 \[1, 2\]"
    with pytest.raises(AssertionError, match=message):
        check_signature(_script(_classifier()), _examples(), [FEATURES], [wrong])


def test_check_signature_rejects_a_wrong_input_dtype() -> None:
    integers = (torch.ones(4, 3, dtype=torch.int64),)
    message = r"input 'features': got int64 \[4, 3\], signature says float32 \[4, 3\]"
    with pytest.raises(AssertionError, match=message):
        check_signature(_script(_classifier()), integers, [FEATURES], [PROBABILITIES])


def test_check_signature_rejects_a_wrong_output_shape() -> None:
    wrong = {**PROBABILITIES, "shape": [-1, 3]}
    message = r"output 'probabilities': got float32 \[1, 2\], signature says float32 \[1, 3\]"
    with pytest.raises(AssertionError, match=message):
        check_signature(_script(_classifier()), _examples(), [FEATURES], [wrong])


def test_check_signature_rejects_a_wrong_rank() -> None:
    wrong = {**PROBABILITIES, "shape": [-1, 2, 1]}
    with pytest.raises(AssertionError, match=r"signature says float32 \[1, 2, 1\]"):
        check_signature(_script(_classifier()), _examples(), [FEATURES], [wrong])


def test_check_signature_runs_at_batch_seventeen() -> None:
    with pytest.raises(AssertionError, match=r"got float32 \[1, 2\], signature says float32 \[17, 2\]"):
        check_signature(_script(FirstRowOnly()), _examples(), [FEATURES], [PROBABILITIES])


def test_check_signature_rejects_a_wrong_output_count() -> None:
    with pytest.raises(AssertionError, match=r"^module returned 2 outputs, signature names 1$"):
        check_signature(_script(TwoOutputs()), _examples(), [FEATURES], [PROBABILITIES])
    with pytest.raises(AssertionError, match=r"^module returned 1 outputs, signature names 2$"):
        check_signature(_script(_classifier()), _examples(), [FEATURES], [PROBABILITIES, PROBABILITIES])


def test_check_parity_of_a_scripted_copy_is_within_tolerance() -> None:
    module = _classifier()
    worst = check_parity(module, _script(module), _examples())
    assert PARITY_TOLERANCE == 1e-5
    assert 0.0 <= worst <= PARITY_TOLERANCE


def test_check_parity_of_two_outputs() -> None:
    module = TwoOutputs()
    assert check_parity(module, _script(module), _examples()) == 0.0


def test_check_parity_raises_when_outputs_differ() -> None:
    with pytest.raises(AssertionError, match=r"TorchScript output differs from eager by .* > 1e-05"):
        check_parity(_classifier(seed=0), _script(_classifier(seed=1)), _examples())


def test_to_torchscript_scripts_in_eval_mode() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)).train()
    scripted = to_torchscript(module, _examples())
    assert not module.training
    assert isinstance(scripted, torch.jit.ScriptModule)
    assert check_parity(module, scripted, _examples()) <= PARITY_TOLERANCE


def test_to_torchscript_traces_when_asked() -> None:
    module = _classifier()
    traced = to_torchscript(module, _examples(), trace=True)
    assert isinstance(traced, torch.jit.TracedModule)
    assert check_parity(module, traced, _examples()) <= PARITY_TOLERANCE


def test_as_tuple() -> None:
    a, b = torch.zeros(1), torch.ones(1)
    for output, expected in ((a, (a,)), ([a, b], (a, b)), ((a, b), (a, b))):
        result = as_tuple(output)
        assert isinstance(result, tuple)
        assert [id(t) for t in result] == [id(t) for t in expected]
