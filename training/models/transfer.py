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
        for name, param in self.backbone.named_parameters():
            param.requires_grad = not frozen or name.startswith("fc.")

    def load_torchvision_weights(self, path: Path) -> list[str]:
        """Load a torchvision ResNet state dict (e.g. resnet18's) where names and shapes match.

        A shallower ResNet shares its first block of every stage with resnet18/34, so those weights load;
        the classifier never does (its classes differ). Returns the names that were loaded."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold a state dict")
        own = self.backbone.state_dict()
        usable = {k: v for k, v in state.items()
                  if k in own and not k.startswith("fc.") and tuple(v.shape) == tuple(own[k].shape)}
        if not usable:
            raise ValueError(f"{path}: no tensor matches this ResNet (is it a torchvision ResNet state dict?)")
        self.backbone.load_state_dict(usable, strict=False)
        return sorted(usable)


def transfer_resnet(dims: Mapping[str, int], hp: Mapping[str, Any]) -> TransferResNet:
    """Build the network for a task with `n_classes` classes."""
    blocks = tuple(int(b) for b in str(hp["blocks"]).split(","))
    if len(blocks) != 4:
        raise ValueError("blocks must name four stage depths, e.g. '1,1,1,1'")
    return TransferResNet(dims["n_classes"], blocks, int(hp["input_size"]))
