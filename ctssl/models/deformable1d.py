"""Deformable attention over a sequence of slice embeddings (the paper's Eq. 6-8), in plain PyTorch.

As in deformable attention transformers (DAT): a uniform grid of reference
points, one every ``reduction`` slices at the centre of its block, is shifted
by offsets an offset network predicts from the queries (one set per offset
group, shared by all queries); keys and values are read from the input at the
shifted, continuous positions by linear interpolation (zero outside the
sequence); every query attends to those sampled points with dot-product
weights plus a relative-position bias read from a learned table at the
(continuous) distance between query and sampled point.

Sampling is an explicit interpolation-weight matrix, so autograd gives the
offsets their gradient and no custom kernel is needed; the sampling and the
bias lookup are pure functions, each testable alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def hat_weights(positions: torch.Tensor, length: int) -> torch.Tensor:
    """Linear-interpolation weights (..., m, length) of continuous ``positions`` (..., m) on 0 .. length - 1.

    w[i] = max(0, 1 - |position - i|): a position between two indices splits between them, one
    outside the sequence reads zeros beyond the ends.
    """
    index = torch.arange(length, device=positions.device, dtype=positions.dtype)
    return (1.0 - (positions[..., None] - index).abs()).clamp(min=0.0)


def sample_1d(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``values`` (N, n, c) read at ``positions`` (N, m) by linear interpolation -> (N, m, c)."""
    return hat_weights(positions, values.shape[1]).to(values.dtype) @ values


def interpolate_bias(table: torch.Tensor, distance: torch.Tensor, heads: int) -> torch.Tensor:
    """Relative-position bias of each head at continuous distances.

    ``table`` (H, 2L - 1) holds the bias at whole distances -(L - 1) .. L - 1; ``distance``
    (B, H, n, m) is read by linear interpolation, clamped to that range.
    """
    span = table.shape[1]
    where = (distance + (span - 1) / 2).clamp(0, span - 1)
    below = where.floor().clamp(max=span - 2) if span > 1 else where.floor()
    fraction = where - below
    flat = table[None, :, None, :].expand(distance.shape[0], heads, distance.shape[2], span)
    low = torch.gather(flat, 3, below.long())
    high = torch.gather(flat, 3, (below.long() + 1).clamp(max=span - 1))
    return (1 - fraction) * low + fraction * high


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """(length, dim) fixed positional encoding: sin at even and cos at odd features (Vaswani et al.)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    encoding = torch.zeros(length, dim)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return encoding


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, L) at each position (not along the sequence)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def offset_network(channels: int, reduction: int, kernel: int) -> nn.Sequential:
    """Queries of one group (N, c, n) -> one raw offset per reference point (N, 1, n // reduction)."""
    return nn.Sequential(
        nn.Conv1d(channels, channels, kernel, stride=reduction, padding=(kernel - reduction) // 2, groups=channels),
        ChannelNorm(channels),
        nn.GELU(),
        nn.Conv1d(channels, 1, 1, bias=False),
    )


class DeformableAttention1D(nn.Module):
    """(B, n, dim) -> (B, n, dim); ``forward(x, return_sampling=True)`` also gives the positions and samples."""

    def __init__(
        self,
        dim: int,
        heads: int,
        groups: int,
        reduction: int,
        offset_kernel: int,
        offset_range: float,
        max_slices: int,
    ) -> None:
        super().__init__()
        _check_shape(dim, heads, groups, reduction, offset_kernel)
        self.heads, self.groups, self.reduction, self.offset_range = heads, groups, reduction, offset_range
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.offset = offset_network(dim // groups, reduction, offset_kernel)
        self.rel_bias = nn.Parameter(torch.zeros(heads, 2 * max_slices - 1))  # zero: untrained distances are neutral

    def reference_points(self, length: int, device: torch.device) -> torch.Tensor:
        """Centres of the ``reduction``-slice blocks: r j + (r - 1) / 2 for j < length // r."""
        blocks = torch.arange(length // self.reduction, device=device, dtype=torch.float32)
        return blocks * self.reduction + (self.reduction - 1) / 2

    def sampling_positions(self, queries: torch.Tensor) -> torch.Tensor:
        """(B, G, n // r) continuous positions p + s tanh(offset_network(q)): at most s slices from p."""
        batch, length, dim = queries.shape
        grouped = queries.reshape(batch, length, self.groups, dim // self.groups).permute(0, 2, 3, 1)
        raw = self.offset(grouped.reshape(batch * self.groups, dim // self.groups, length))
        shift = self.offset_range * torch.tanh(raw.float().view(batch, self.groups, -1))
        return self.reference_points(length, queries.device) + shift

    def forward(
        self, x: torch.Tensor, return_sampling: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, length, dim = x.shape
        if length < self.reduction:
            raise ValueError(
                f"deformable attention needs at least {self.reduction} slices (its reduction), got {length}"
            )
        queries = self.q(x)
        positions = self.sampling_positions(queries)  # (B, G, m)
        sampled = self._sample(x, positions)  # (B, m, dim)
        keys, values = self._heads(self.k(sampled)), self._heads(self.v(sampled))
        per_head = positions.repeat_interleave(self.heads // self.groups, dim=1)  # (B, H, m)
        distance = (
            torch.arange(length, device=x.device, dtype=torch.float32)[None, None, :, None] - per_head[:, :, None]
        )
        logits = self._heads(queries) @ keys.transpose(-1, -2) / math.sqrt(dim // self.heads)
        weights = (logits.float() + interpolate_bias(self.rel_bias, distance, self.heads)).softmax(dim=-1)
        attended = (weights.to(values.dtype) @ values).transpose(1, 2).reshape(batch, length, dim)
        out = self.out(attended)
        return (out, positions, sampled) if return_sampling else out

    def _sample(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Each group's channels read at that group's positions: (B, m, dim)."""
        batch, length, dim = x.shape
        grouped = x.reshape(batch, length, self.groups, dim // self.groups).transpose(1, 2)
        flat = grouped.reshape(batch * self.groups, length, dim // self.groups)
        sampled = sample_1d(flat, positions.reshape(batch * self.groups, -1))
        return sampled.view(batch, self.groups, -1, dim // self.groups).transpose(1, 2).reshape(batch, -1, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, dim) -> (B, H, L, dim // H)."""
        batch, length, dim = x.shape
        return x.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)


def _check_shape(dim: int, heads: int, groups: int, reduction: int, kernel: int) -> None:
    if dim % heads or heads % groups:
        raise ValueError(f"width {dim} must split into {heads} heads, and heads into {groups} offset groups")
    if reduction < 1 or kernel < reduction or (kernel - reduction) % 2:
        raise ValueError(
            f"the offset kernel must be at least the reduction and differ from it by an even number, "
            f"got kernel {kernel}, reduction {reduction} (e.g. kernel 6 with reduction 4)"
        )
