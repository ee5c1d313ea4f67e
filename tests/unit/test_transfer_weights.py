"""Loading torchvision ResNet weights into the transfer network, and freezing its backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from training.models.transfer import TransferResNet, transfer_resnet

HP = {"blocks": "1,1,1,1", "input_size": 32}


def _net() -> TransferResNet:
    torch.manual_seed(0)
    return transfer_resnet({"n_classes": 10}, HP)


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(state, path)
    return path, state


def test_transfer_resnet_builds_from_the_spec_hparams() -> None:
    net = _net()
    assert isinstance(net, TransferResNet)
    assert [len(getattr(net.backbone, f"layer{i}")) for i in range(1, 5)] == [1, 1, 1, 1]
    assert net.backbone.fc.out_features == 10
    assert net.input_size == 32


def test_loads_resnet18_weights_where_names_and_shapes_match(
    resnet18_file: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    path, state = resnet18_file
    net = _net()
    own = net.backbone.state_dict()
    assert not torch.equal(own["conv1.weight"], state["conv1.weight"])  # differently seeded before loading
    fc_before = {k: v.clone() for k, v in own.items() if k.startswith("fc.")}

    loaded = net.load_torchvision_weights(path)

    after = net.backbone.state_dict()
    for name in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer4.0.downsample.0.weight"):
        assert name in loaded
        assert torch.equal(after[name], state[name])
    for name, before in fc_before.items():
        assert name not in loaded
        assert torch.equal(after[name], before)
    # resnet18 has a second block per stage that this network lacks; everything else but fc loads.
    assert "layer1.1.conv1.weight" not in loaded
    assert loaded == sorted(k for k in own if not k.startswith("fc."))


def test_never_loads_the_classifier_even_when_its_shape_matches(
    resnet18_file: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    # The recipe builds a 1000-class head before loading ImageNet weights, so fc's shapes match resnet18's.
    path, state = resnet18_file
    torch.manual_seed(0)
    net = transfer_resnet({"n_classes": 1000}, HP)
    fc_before = net.backbone.fc.weight.detach().clone()
    assert fc_before.shape == state["fc.weight"].shape

    loaded = net.load_torchvision_weights(path)

    assert "fc.weight" not in loaded
    assert "fc.bias" not in loaded
    assert torch.equal(net.backbone.fc.weight, fc_before)
    assert torch.equal(net.backbone.conv1.weight, state["conv1.weight"])


def test_a_partial_state_dict_is_refused_not_half_loaded(tmp_path: Path) -> None:
    net = _net()
    bn_before = net.backbone.bn1.weight.detach().clone()
    path = tmp_path / "partial.pth"
    torch.save({"conv1.weight": torch.ones(64, 1, 7, 7), "bn1.weight": torch.full((64,), 2.0)}, path)
    with pytest.raises(ValueError, match=r"partial\.pth: not a torchvision resnet18/34 state dict"):
        net.load_torchvision_weights(path)
    assert torch.equal(net.backbone.bn1.weight, bn_before)


def test_a_non_resnet_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "linear.pth"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(ValueError, match=r"linear\.pth: not a torchvision resnet18/34 state dict"):
        _net().load_torchvision_weights(path)


def test_a_bottleneck_resnet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r"resnet50\.pth: a Bottleneck ResNet"):
        _net().load_torchvision_weights(path)


def test_frozen_backbone_keeps_its_batchnorm_statistics() -> None:
    net = _net()
    net.freeze_backbone(True)
    net.train()
    before = net.backbone.bn1.running_mean.clone()
    net(torch.rand(4, 1, 8, 8))
    assert torch.equal(net.backbone.bn1.running_mean, before)
    net.freeze_backbone(False)
    net.train()
    net(torch.rand(4, 1, 8, 8))
    assert not torch.equal(net.backbone.bn1.running_mean, before)


def test_a_file_without_a_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match=r"tensor\.pth does not hold a state dict"):
        _net().load_torchvision_weights(path)


def test_freeze_backbone_leaves_only_the_head_trainable() -> None:
    net = _net()
    net.freeze_backbone(True)
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.fc.weight", "backbone.fc.bias"}
    net.freeze_backbone(False)
    assert all(p.requires_grad for p in net.parameters())


def test_replace_head_keeps_the_backbone() -> None:
    net = _net()
    conv1 = net.backbone.conv1.weight.detach().clone()
    net.replace_head(3)
    assert net.backbone.fc.out_features == 3
    assert torch.equal(net.backbone.conv1.weight, conv1)
    with torch.inference_mode():
        assert net.eval()(torch.rand(2, 1, 8, 8)).shape == (2, 3)
