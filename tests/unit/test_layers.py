"""Custom layers and loss, and TorchScript parity of every curriculum architecture."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from training.export import as_tuple, torchscript_deprecation_silenced
from training.models import char_rnn, cnn, gan, transfer
from training.models.layers import (
    BinaryProbabilities,
    Destandardize,
    GatedLinear,
    LabelSmoothingCrossEntropy,
    Softmax,
    Standardize,
)


def _logits_and_targets(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 5, generator=g) * 3, torch.randint(0, 5, (16,), generator=g)


def test_label_smoothing_matches_torch() -> None:
    logits, target = _logits_and_targets()
    ours = LabelSmoothingCrossEntropy(0.1)(logits, target)
    theirs = F.cross_entropy(logits, target, label_smoothing=0.1)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_label_smoothing_zero_is_plain_cross_entropy() -> None:
    logits, target = _logits_and_targets(1)
    torch.testing.assert_close(
        LabelSmoothingCrossEntropy(0.0)(logits, target), F.cross_entropy(logits, target), atol=1e-6, rtol=0
    )


def test_label_smoothing_changes_the_loss() -> None:
    logits, target = _logits_and_targets(2)
    assert abs(float(LabelSmoothingCrossEntropy(0.3)(logits, target) - F.cross_entropy(logits, target))) > 1e-3


@pytest.mark.parametrize("smoothing", [-0.1, 1.0, 1.5])
def test_label_smoothing_rejects_out_of_range(smoothing: float) -> None:
    with pytest.raises(ValueError, match=r"smoothing must be in \[0, 1\)"):
        LabelSmoothingCrossEntropy(smoothing)


def _table() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 3, generator=g) * torch.tensor([10.0, 0.5, 1.0]) + torch.tensor([100.0, -3.0, 0.0])
    x[:, 2] = 7.0  # a constant column
    return x


def test_standardize_maps_training_statistics_to_zero_mean_unit_std() -> None:
    x = _table()
    layer = Standardize(x.mean(dim=0), x.std(dim=0))
    out = layer(x)
    torch.testing.assert_close(out[:, :2].mean(dim=0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, :2].std(dim=0), torch.ones(2), atol=1e-5, rtol=0)


def test_standardize_keeps_a_constant_column_finite_and_centred() -> None:
    x = _table()
    layer = Standardize(x.mean(dim=0), x.std(dim=0))
    out = layer(x)
    assert bool(torch.isfinite(out).all())
    assert torch.equal(out[:, 2], torch.zeros(64))
    assert float(layer.std[2]) == 1.0
    assert layer.mean.dtype == layer.std.dtype == torch.float32


def test_standardize_broadcasts_per_channel_for_images() -> None:
    mean, std = torch.tensor([0.5, 0.0])[:, None, None], torch.tensor([0.25, 2.0])[:, None, None]
    out = Standardize(mean, std)(torch.ones(1, 2, 3, 3))
    assert torch.equal(out[0, 0], torch.full((3, 3), 2.0))
    assert torch.equal(out[0, 1], torch.full((3, 3), 0.5))


def test_destandardize_inverts_standardization_and_drops_the_last_dim() -> None:
    target = torch.tensor([25.0, 150.0, 346.0])
    mean, std = 152.0, 77.0
    out = Destandardize(mean, std)(((target - mean) / std).unsqueeze(1))
    assert out.shape == (3,)
    torch.testing.assert_close(out, target, atol=1e-4, rtol=0)


def test_binary_probabilities_are_the_sigmoid_and_sum_to_one() -> None:
    logit = torch.tensor([[-2.0], [0.0], [3.5]])
    probs = BinaryProbabilities()(logit)
    assert probs.shape == (3, 2)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(3))
    torch.testing.assert_close(probs[:, 1], torch.sigmoid(logit.squeeze(1)))
    assert float(probs[1, 0]) == 0.5


def test_softmax_rows_sum_to_one() -> None:
    probs = Softmax()(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))
    torch.testing.assert_close(probs[1], torch.full((3,), 1 / 3))


def test_gated_linear_is_value_times_sigmoid_gate() -> None:
    torch.manual_seed(0)
    layer = GatedLinear(5, 3)
    x = torch.randn(4, 5)
    out = layer(x)
    assert out.shape == (4, 3)
    both = x @ layer.proj.weight.T + layer.proj.bias
    torch.testing.assert_close(out, both[:, :3] * torch.sigmoid(both[:, 3:]))


def _case_standardize() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    x = _table()
    return Standardize(x.mean(dim=0), x.std(dim=0)), (x[:8],)


def _case_label_smoothing() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return LabelSmoothingCrossEntropy(0.1), _logits_and_targets()


def _case_digit_cnn() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return cnn.digit_cnn({"channels": 1, "n_classes": 10}, {"width": 8, "dropout": 0.2}), (torch.rand(3, 1, 8, 8),)


def _case_char_gru() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = char_rnn.CharGRU(vocab_size=11, embedding=4, hidden=6, layers=2, dropout=0.1)
    return model, (torch.randint(0, 11, (2, 5)), torch.randn(2, 2, 6))


def _case_generator() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return gan.Generator(latent_dim=4, n_classes=10, width=8), (torch.tensor([0, 3, 9]), torch.randn(3, 4))


def _case_transfer() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return transfer.TransferResNet(n_classes=10, blocks=(1, 1, 1, 1), input_size=32), (torch.rand(2, 1, 8, 8),)


SCRIPT_CASES: dict[str, Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]] = {
    "standardize": _case_standardize,
    "destandardize": lambda: (Destandardize(152.0, 77.0), (torch.randn(4, 1),)),
    "softmax": lambda: (Softmax(), (torch.randn(4, 3),)),
    "binary_probabilities": lambda: (BinaryProbabilities(), (torch.randn(4, 1),)),
    "gated_linear": lambda: (GatedLinear(5, 3), (torch.randn(4, 5),)),
    "label_smoothing": _case_label_smoothing,
    "digit_cnn": _case_digit_cnn,
    "char_gru": _case_char_gru,
    "generator": _case_generator,
    "transfer_resnet": _case_transfer,
}
EXPECTED_SHAPES = {
    "standardize": [(8, 3)], "destandardize": [(4,)], "softmax": [(4, 3)], "binary_probabilities": [(4, 2)],
    "gated_linear": [(4, 3)], "label_smoothing": [()], "digit_cnn": [(3, 10)], "char_gru": [(2, 5, 11), (2, 2, 6)],
    "generator": [(3, 1, 8, 8)], "transfer_resnet": [(2, 10)],
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SCRIPT_CASES))
def test_scripts_and_matches_eager(case: str) -> None:
    torch.manual_seed(0)
    module, inputs = SCRIPT_CASES[case]()
    module.eval()
    with torchscript_deprecation_silenced():
        scripted = torch.jit.script(module)
    assert isinstance(scripted, torch.jit.ScriptModule)
    with torch.inference_mode():
        eager_out, scripted_out = as_tuple(module(*inputs)), as_tuple(scripted(*inputs))
    assert [tuple(t.shape) for t in eager_out] == EXPECTED_SHAPES[case]
    assert len(scripted_out) == len(eager_out)
    for a, b in zip(eager_out, scripted_out, strict=True):
        assert bool(torch.isfinite(a).all())
        torch.testing.assert_close(b, a, atol=1e-6, rtol=0)


def test_generator_draws_pixels_in_the_unit_interval() -> None:
    torch.manual_seed(0)
    module, inputs = _case_generator()
    with torch.inference_mode():
        image = module.eval()(*inputs)
    assert float(image.min()) >= 0.0
    assert float(image.max()) <= 1.0


def test_digit_cnn_accepts_larger_images() -> None:
    module = cnn.digit_cnn({"channels": 3, "n_classes": 4}, {"width": 4, "dropout": 0.0}).eval()
    with torch.inference_mode():
        assert module(torch.rand(2, 3, 32, 32)).shape == (2, 4)


def test_transfer_resnet_rejects_a_wrong_block_count() -> None:
    with pytest.raises(ValueError, match="blocks must name four stage depths"):
        transfer.transfer_resnet({"n_classes": 10}, {"blocks": "1,1,1", "input_size": 32})


def test_char_gru_state_continues_the_sequence() -> None:
    torch.manual_seed(0)
    model, (tokens, _) = _case_char_gru()
    model.eval()
    state = torch.zeros(2, 2, 6)
    with torch.inference_mode():
        whole, whole_state = model(tokens, state)
        first, mid_state = model(tokens[:, :3], state)
        rest, end_state = model(tokens[:, 3:], mid_state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)
    torch.testing.assert_close(end_state, whole_state)
