"""SwinUNETR's encoder path, exactly as MONAI builds and wires it, pooled into one embedding per crop.

The modules are taken from a SwinUNETR instance rather than rebuilt, so their
names and shapes are SwinUNETR's (``swinViT.*``, ``encoder1.*`` .. ``encoder10.*``)
by construction: the state dict is the fine-tuning model's whole encoder, key
for key, and every one of those weights is pre-trained.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

# SwinUNETR's conv blocks on the encoder side, in the order both VoCo releases pool them, and their widths
# relative to feature_size: encoder1 reads the crop, encoder2/3/4 the first three hidden states of swinViT,
# encoder10 the last (the fourth feeds only the decoder).
ENCODER_BLOCKS = ("encoder1", "encoder2", "encoder3", "encoder4", "encoder10")
BLOCK_WIDTHS = (1, 1, 2, 4, 16)


def swin_unetr(feature_size: int, use_v2: bool, window_size: int, in_channels: int = 1) -> nn.Module:
    """MONAI's SwinUNETR(feature_size, use_v2, window_size): patch size 2, depths (2, 2, 2, 2), instance norm."""
    from monai.networks.nets import SwinUNETR

    if feature_size % 12:
        raise ValueError(f"feature_size must be a multiple of 12 (heads 3, 6, 12, 24), got {feature_size}")
    return SwinUNETR(
        in_channels=in_channels, out_channels=1, feature_size=feature_size, use_v2=use_v2, window_size=window_size
    )


class SwinEmbedder(nn.Module):
    """Crops (B, 1, X, Y, Z), each side a multiple of 32 -> (B, 24 * feature_size) pooled features.

    SwinUNETR's forward up to its bottleneck: swinViT's hidden states, then the
    encoder1, 2, 3, 4 and 10 conv blocks on the crop and on hidden states 0, 1, 2
    and 4. Each block's output is average-pooled and the five vectors are
    concatenated in that order, as both VoCo releases embed a crop.
    """

    def __init__(self, feature_size: int, use_v2: bool, window_size: int) -> None:
        super().__init__()
        unetr = swin_unetr(feature_size, use_v2, window_size)
        # SwinUNETR's attribute names throughout: the state dict is its encoder
        self.swinViT, self.encoder1, self.encoder2, self.encoder3, self.encoder4, self.encoder10 = (
            cast(nn.Module, getattr(unetr, name)) for name in ("swinViT", *ENCODER_BLOCKS)
        )
        self.normalize = bool(unetr.normalize)
        self.out_features = feature_size * sum(BLOCK_WIDTHS)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        sides = tuple(crops.shape[2:])
        if any(side % 32 for side in sides) or max(sides) < 64:
            # encoder10 instance-normalises swinViT's 1/32-scale state, which needs more than one voxel
            raise ValueError(f"Swin crops need sides that are multiples of 32, one of 64 or more; got {sides}")
        hidden = self.swinViT(crops, self.normalize)
        maps = (
            self.encoder1(crops),
            self.encoder2(hidden[0]),
            self.encoder3(hidden[1]),
            self.encoder4(hidden[2]),
            self.encoder10(hidden[4]),
        )
        return torch.cat([block.mean(dim=(2, 3, 4)) for block in maps], dim=1)
