"""A torchvision ResNet sized for the time budget, adapted to digit-sized grayscale input."""


from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from torchvision.models.resnet import BasicBlock, ResNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TransferResNet(nn.Module):
    """Pixels [B, 1, H, W] in [0, 1] → logits. The input is upsampled and repeated to three channels with
    ImageNet statistics, so torchvision's pretrained ResNet weights see what they were trained on."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_classes: int, blocks: tuple[int, ...], input_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.backbone = ResNet(BasicBlock, list(blocks), num_classes=n_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=[self.input_size, self.input_size], mode="bilinear", align_corners=False)
        x = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        return self.backbone(x)

    def replace_head(self, n_classes: int) -> None:
        """A fresh classifier for a new task; the backbone keeps what it learnt."""
        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, n_classes)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Train only the head (frozen) or everything (unfrozen)."""
        self.frozen = frozen
        for name, param in self.backbone.named_parameters():
            param.requires_grad = not frozen or name.startswith("fc.")
        self.train(self.training)

    def train(self, mode: bool = True) -> "TransferResNet":
        """As nn.Module.train, but a frozen backbone stays in eval mode: its BatchNorm statistics are part of
        what was learnt and must not drift towards the few labelled examples."""
        super().train(mode)
        if mode and getattr(self, "frozen", False):
            for name, module in self.backbone.named_children():
                if name != "fc":
                    module.eval()
        return self

    def load_torchvision_weights(self, path: Path) -> list[str]:
        """Load a torchvision BasicBlock ResNet state dict (resnet18/34) into this shallower ResNet.

        This network's stem and the first block of every stage have the same names and shapes as
        resnet18/34's, so those weights load; the classifier never does (its classes differ). Anything else
        (a Bottleneck ResNet such as resnet50, another architecture, a partial file) is refused rather than
        half-loaded. Returns the names that were loaded."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold a state dict")
        if any(".conv3." in key for key in state):
            raise ValueError(f"{path}: a Bottleneck ResNet (resnet50 or larger); use resnet18 or resnet34 weights")
        wanted = {k: v for k, v in self.backbone.state_dict().items() if not k.startswith("fc.")}
        missing = [k for k in wanted if k not in state or tuple(state[k].shape) != tuple(wanted[k].shape)]
        if missing:
            raise ValueError(f"{path}: not a torchvision resnet18/34 state dict ({len(missing)} tensors missing "
                             f"or mis-shaped, e.g. {missing[0]})")
        self.backbone.load_state_dict({k: state[k] for k in wanted}, strict=False)
        return sorted(wanted)


def transfer_resnet(dims: Mapping[str, int], hp: Mapping[str, Any]) -> TransferResNet:
    """Build the network for a task with `n_classes` classes."""
    blocks = tuple(int(b) for b in str(hp["blocks"]).split(","))
    if len(blocks) != 4:
        raise ValueError("blocks must name four stage depths, e.g. '1,1,1,1'")
    return TransferResNet(dims["n_classes"], blocks, int(hp["input_size"]))
