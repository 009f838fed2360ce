"""2D ResNets built by MONAI with torchvision's parameter names and shapes, and their pooled levels.

MONAI's ``ResNet`` with a 7x7 stride-2 stem, max pooling and bias-free
downsampling convolutions is torchvision's ``resnet50`` key for key (checked
against the key list in tests/ctssl/data), so weights trained here load into a
standard 2D ResNet-50 without renaming; torchvision itself is not needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from monai.networks.nets import ResNet

_STEM: dict[str, Any] = {
    "spatial_dims": 2,
    "n_input_channels": 3,
    "conv1_t_size": 7,
    "conv1_t_stride": 2,
    "bias_downsample": False,
}
# MONAI ResNet arguments per backbone name; feed_forward=False drops the classifier (torchvision's fc).
BACKBONES: dict[str, dict[str, Any]] = {
    "resnet50": {"block": "bottleneck", "layers": [3, 4, 6, 3], "block_inplanes": [64, 128, 256, 512], **_STEM},
    "tiny": {"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [8, 16, 32, 64], **_STEM},
}
_EXPANSION = {"bottleneck": 4, "basic": 1}
# Which pooled levels make a slice's embedding: the stem (after max pooling) and the four stages, or layer4 only.
LEVELS: dict[str, slice] = {"all5": slice(0, 5), "last": slice(4, 5)}


def resnet2d(name: str) -> ResNet:
    """The named backbone without its classifier; expects (N, 3, H, W)."""
    from monai.networks.nets import ResNet

    return ResNet(**backbone_kwargs(name), feed_forward=False)


def backbone_kwargs(name: str) -> dict[str, Any]:
    if name not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {name!r}")
    return dict(BACKBONES[name])


def level_widths(name: str) -> tuple[int, ...]:
    """Channels of the stem and of layer1 .. layer4."""
    kwargs = backbone_kwargs(name)
    expansion = _EXPANSION[kwargs["block"]]
    return (kwargs["block_inplanes"][0], *(width * expansion for width in kwargs["block_inplanes"]))


def embedding_width(name: str, levels: str) -> int:
    """F_in: the width of a slice embedding made of the chosen levels."""
    return sum(level_widths(name)[_levels(levels)])


def pooled_levels(backbone: ResNet, images: torch.Tensor) -> list[torch.Tensor]:
    """Global-average-pooled stem (after max pooling), layer1, layer2, layer3 and layer4: five (N, C_l)."""
    x = backbone.maxpool(backbone.act(backbone.bn1(backbone.conv1(images))))
    levels = [x]
    for stage in (backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4):
        x = stage(x)
        levels.append(x)
    return [level.mean(dim=(2, 3)) for level in levels]


def slice_embedding(levels: list[torch.Tensor], which: str) -> torch.Tensor:
    """The chosen pooled levels, each L2-normalised on its own (no level outweighs another), concatenated."""
    return torch.cat([F.normalize(level.float(), dim=1) for level in levels[_levels(which)]], dim=1)


def _levels(which: str) -> slice:
    if which not in LEVELS:
        raise ValueError(f"levels must be one of {', '.join(LEVELS)}, got {which!r}")
    return LEVELS[which]
