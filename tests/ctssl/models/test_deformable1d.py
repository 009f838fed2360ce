"""Deformable slice attention: it samples at the offsets it predicts, by hand-checkable interpolation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ctssl.models.deformable1d import DeformableAttention1D, interpolate_bias, sample_1d, sinusoidal_encoding


def _rows(count: int = 5, width: int = 3) -> torch.Tensor:
    """x_i = the i-th row: distinct, easy to combine by hand."""
    return (torch.arange(count * width, dtype=torch.float64).view(1, count, width) + 1) ** 1.5


def test_linear_sampling_by_hand():
    x = _rows()
    positions = torch.tensor([[2.25, 0.0, -0.5, 4.5, 7.0]], dtype=torch.float64)
    sampled = sample_1d(x, positions)[0]
    rows = x[0]
    torch.testing.assert_close(sampled[0], 0.75 * rows[2] + 0.25 * rows[3])
    torch.testing.assert_close(sampled[1], rows[0])
    torch.testing.assert_close(sampled[2], 0.5 * rows[0])  # half a slice before the first: zero padding
    torch.testing.assert_close(sampled[3], 0.5 * rows[4])
    torch.testing.assert_close(sampled[4], torch.zeros(3, dtype=torch.float64))


def test_sampling_gradients_match_finite_differences():
    x = _rows().requires_grad_(True)
    positions = torch.tensor([[0.3, 1.6, 3.2]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(sample_1d, (x, positions))


def _attention(seed: int = 0, **changes) -> DeformableAttention1D:
    torch.manual_seed(seed)
    shape = {"dim": 16, "heads": 4, "groups": 2, "reduction": 4, "offset_kernel": 6, "offset_range": 8.0}
    return DeformableAttention1D(**(shape | changes), max_slices=32)


def test_without_offsets_it_samples_the_block_centres():
    attention = _attention()
    with torch.no_grad():
        attention.offset[3].weight.zero_()
    x = torch.randn(2, 16, 16)
    _, positions, sampled = attention(x, return_sampling=True)
    torch.testing.assert_close(positions, torch.tensor([1.5, 5.5, 9.5, 13.5]).expand(2, 2, 4))
    expected = 0.5 * (x[:, 1::4] + x[:, 2::4])  # x~_j = (x_{4j+1} + x_{4j+2}) / 2
    torch.testing.assert_close(sampled, expected)


def test_it_samples_where_its_offset_network_points():
    attention = _attention(seed=3)
    x = torch.randn(2, 12, 16, requires_grad=True)
    out, positions, sampled = attention(x, return_sampling=True)
    # (a) the positions are p + s tanh(offset network(q)), recomputed outside the module
    queries = attention.q(x).view(2, 12, 2, 8).permute(0, 2, 3, 1).reshape(4, 8, 12)
    raw = attention.offset(queries).view(2, 2, 3)
    reference = torch.tensor([1.5, 5.5, 9.5])
    torch.testing.assert_close(positions, reference + 8.0 * torch.tanh(raw))
    # (b) never more than the offset range from the grid
    assert float((positions - reference).detach().abs().max()) <= 8.0
    # (c) each group's channels are read at that group's positions, by linear interpolation with zero padding
    values, where = x.detach().numpy(), positions.detach().numpy()
    for b in range(2):
        for g in range(2):
            for j in range(3):
                low = int(np.floor(where[b, g, j]))
                fraction = where[b, g, j] - low
                expected = np.zeros(8, dtype=np.float32)
                for index, weight in ((low, 1 - fraction), (low + 1, fraction)):
                    if 0 <= index < 12:
                        expected += weight * values[b, index, g * 8 : (g + 1) * 8]
                np.testing.assert_allclose(sampled[b, j, g * 8 : (g + 1) * 8].detach().numpy(), expected, atol=1e-5)
    # (d) the output depends on every part of the offset network
    out.sum().backward()
    for name, parameter in attention.offset.named_parameters():
        assert parameter.grad is not None and float(parameter.grad.abs().sum()) > 0, name


def test_the_relative_bias_interpolates_its_table():
    heads, length = 2, 4
    ramp = torch.arange(2 * length - 1, dtype=torch.float64) - (length - 1)  # T[t] = t - (L - 1)
    table = ramp.expand(heads, -1)
    distance = torch.tensor([-2.25, -0.5, 0.0, 1.75, 3.0], dtype=torch.float64).view(1, 1, 1, 5).expand(1, heads, 1, 5)
    torch.testing.assert_close(interpolate_bias(table, distance, heads), distance)  # linear tables stay exact
    spike = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]])  # L = 3: bias 1 at distance 0
    half = interpolate_bias(spike, torch.tensor([-0.5, 9.0]).view(1, 1, 1, 2), 1)
    torch.testing.assert_close(half, torch.tensor([0.5, 0.0]).view(1, 1, 1, 2))  # far distances clamp to the ends


def test_the_sinusoidal_encoding_by_hand():
    encoding = sinusoidal_encoding(3, 6)
    assert float(encoding[1, 0]) == pytest.approx(math.sin(1.0)) and float(encoding[1, 1]) == pytest.approx(math.cos(1))
    torch.testing.assert_close(encoding[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))


def test_without_reduction_offsets_or_bias_it_is_plain_multi_head_attention():
    attention = _attention(reduction=1, offset_kernel=3, offset_range=0.0, groups=4)
    x = torch.randn(3, 7, 16)
    heads = 4

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(3, 7, heads, 4).transpose(1, 2)

    q, k, v = split(attention.q(x)), split(attention.k(x)), split(attention.v(x))
    plain = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(3, 7, 16)
    torch.testing.assert_close(attention(x), attention.out(plain), atol=1e-5, rtol=1e-5)


def test_permuting_the_batch_permutes_the_output():
    attention = _attention()
    x = torch.randn(3, 9, 16)
    order = torch.tensor([2, 0, 1])
    torch.testing.assert_close(attention(x)[order], attention(x[order]), atol=1e-6, rtol=1e-5)


def test_shapes_it_cannot_take_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="even number"):
        _attention(offset_kernel=5)
    with pytest.raises(ValueError, match="offset groups"):
        _attention(groups=3)
    with pytest.raises(ValueError, match="at least 4 slices"):
        _attention()(torch.randn(1, 3, 16))
