"""The Swin transformer encoder exactly as MONAI's SwinUNETR builds it, pooled into one embedding.

The encoder is taken from a SwinUNETR instance rather than rebuilt, so its
parameter names and shapes are SwinUNETR's ``swinViT.*`` by construction and
exported weights load into the fine-tuning model unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

# Channels of the five hidden states relative to feature_size: the patch embedding and four stages.
STAGE_WIDTHS = (1, 2, 4, 8, 16)


def swin_encoder(feature_size: int, use_v2: bool, window_size: int, in_channels: int = 1) -> nn.Module:
    """SwinUNETR(feature_size, use_v2, window_size).swinViT: patch size 2, depths (2, 2, 2, 2)."""
    from monai.networks.nets import SwinUNETR

    if feature_size % 12:
        raise ValueError(f"feature_size must be a multiple of 12 (heads 3, 6, 12, 24), got {feature_size}")
    unetr = SwinUNETR(
        in_channels=in_channels, out_channels=1, feature_size=feature_size, use_v2=use_v2, window_size=window_size
    )
    return unetr.swinViT


class SwinEmbedder(nn.Module):
    """Crops (B, 1, X, Y, Z), each side a multiple of 32 -> (B, 31 * feature_size) pooled features.

    Every hidden state is average-pooled and the five vectors concatenated, so
    the embedding carries low- and high-level features alike (VoCo pools the
    encoder stages the same way).
    """

    def __init__(self, feature_size: int, use_v2: bool, window_size: int) -> None:
        super().__init__()
        self.swinViT = swin_encoder(
            feature_size, use_v2, window_size
        )  # SwinUNETR's attribute name, kept for the export
        self.out_features = feature_size * sum(STAGE_WIDTHS)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        if any(side % 32 for side in crops.shape[2:]):
            raise ValueError(f"Swin crops need sides that are multiples of 32, got {tuple(crops.shape[2:])}")
        hidden = self.swinViT(crops)
        return torch.cat([state.mean(dim=(2, 3, 4)) for state in hidden], dim=1)
