"""The hybrid encoder for 3D tasks: a 2D CNN per slice (f_intra) and a deformable slice transformer (f_inter).

Slices (B, n, 1, H, W) -> each slice through the 2D backbone (grey repeated
to three channels) -> its pooled levels, each L2-normalised, concatenated
(F_in) -> f_inter: a linear projection to ``d_model``, a sinusoidal encoding of
the slice index, and ``layers`` post-norm layers of deformable attention and a
GELU feed-forward -> tokens (B, n, d_model); their mean is the volume feature.
``HybridEncoder`` is what pre-training exports for 3D tasks, and
``HybridClassifier`` puts the paper's two fully connected layers on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ctssl.models.deformable1d import DeformableAttention1D, sinusoidal_encoding
from ctssl.models.resnet2d import embedding_width, pooled_levels, resnet2d, slice_embedding


@dataclass(frozen=True)
class InterConfig:
    """The shape of f_inter."""

    d_model: int  # token width
    ffn: int  # feed-forward hidden width
    layers: int
    heads: int
    groups: int  # offset groups (each has its own sampling positions)
    reduction: int  # one reference point per this many slices
    offset_kernel: int  # offset network kernel, along the slices
    offset_range: float  # largest shift of a reference point, slices
    max_slices: int  # the relative-position table spans +-(max_slices - 1)
    dropout: float


class InterLayer(nn.Module):
    """x = LN(x + drop(attention(x))); x = LN(x + drop(FFN(x)))."""

    def __init__(self, config: InterConfig) -> None:
        super().__init__()
        c = config
        self.attn = DeformableAttention1D(
            c.d_model, c.heads, c.groups, c.reduction, c.offset_kernel, c.offset_range, c.max_slices
        )
        self.norm1, self.norm2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.ffn = nn.Sequential(
            nn.Linear(c.d_model, c.ffn), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(c.ffn, c.d_model)
        )
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.attn(x)
        assert isinstance(attended, torch.Tensor)
        x = self.norm1(x + self.drop(attended))
        return self.norm2(x + self.drop(self.ffn(x)))


class InterTransformer(nn.Module):
    """f_inter: slice embeddings (B, n, F_in) -> tokens (B, n, d_model)."""

    def __init__(self, in_features: int, config: InterConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, config.d_model)
        self.layers = nn.ModuleList(InterLayer(config) for _ in range(config.layers))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        x = self.proj(embeddings)
        x = x + sinusoidal_encoding(x.shape[1], x.shape[2]).to(x)  # the slice order (the paper's positional encoding)
        for layer in self.layers:
            x = layer(x)
        return x


class HybridEncoder(nn.Module):
    """forward(slices (B, n, 1, H, W) in [0, 1]) -> (volume feature (B, d_model), tokens (B, n, d_model)).

    ``intra`` carries torchvision's ResNet names; ``inter`` is f_inter. Keyword arguments:
    ``backbone`` (resnet50 | tiny), ``levels`` (all5 | last) and the fields of :class:`InterConfig`.
    """

    def __init__(self, backbone: str, levels: str, **inter: Any) -> None:
        super().__init__()
        self.levels = levels
        self.intra = resnet2d(backbone)
        self.inter = InterTransformer(embedding_width(backbone, levels), InterConfig(**inter))

    def slice_levels(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Grey slices (N, 1, H, W) -> the backbone's five pooled levels."""
        return pooled_levels(self.intra, images.expand(-1, 3, -1, -1))

    def embed(self, slices: torch.Tensor) -> torch.Tensor:
        """Y: (B, n, 1, H, W) -> (B, n, F_in)."""
        levels = self.slice_levels(slices.flatten(0, 1))
        return slice_embedding(levels, self.levels).view(*slices.shape[:2], -1)

    def forward(self, slices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.inter(self.embed(slices))
        return tokens.mean(dim=1), tokens


class HybridClassifier(nn.Module):
    """The paper's 3D classifier: the hybrid encoder and two fully connected layers on the volume feature."""

    def __init__(self, encoder: HybridEncoder, classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        width = encoder.inter.proj.out_features
        self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, classes))

    def forward(self, slices: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(slices)[0])
