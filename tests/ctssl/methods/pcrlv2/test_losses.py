"""PCRLv2's objectives against values worked out by hand, and stop-gradient on the comparison targets."""

from __future__ import annotations

import math

import pytest
import torch

from ctssl.methods.pcrlv2.losses import (
    comparison_loss,
    restoration_loss,
)


def test_comparison_loss_by_hand_and_stop_gradient_on_the_targets():
    features_a = torch.tensor([[1.0, 0.0]], requires_grad=True)
    features_b = torch.tensor([[1.0, 1.0]], requires_grad=True)
    predicted_a = torch.tensor([[1.0, 0.0]], requires_grad=True)  # vs sg(b): cos 1/sqrt2
    predicted_b = torch.tensor([[0.0, 1.0]], requires_grad=True)  # vs sg(a): cos 0
    loss = comparison_loss(features_a, features_b, predicted_a, predicted_b)
    assert float(loss.detach()) == pytest.approx(-0.5 * (1 / math.sqrt(2) + 0.0))
    loss.backward()
    assert features_a.grad is None and features_b.grad is None
    assert predicted_a.grad is not None and predicted_b.grad is not None
    # d/dp of -cos(p, z)/2 at p = e2, z = e1 is -(z/|z| - cos * p/|p|)/2 = (-0.5, 0)
    torch.testing.assert_close(predicted_b.grad, torch.tensor([[-0.5, 0.0]]))


def test_restoration_loss_is_the_mean_squared_error():
    restored = torch.tensor([[0.0, 0.5, 1.0, 1.0]])
    target = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    assert float(restoration_loss(restored, target)) == pytest.approx((0.25 + 1.0) / 4)
