"""VoCo's objectives against values worked out by hand, and stop-gradient exactly where the paper puts it."""

from __future__ import annotations

import math

import pytest
import torch

from ctssl.methods.voco.losses import (
    voco_logits,
    voco_prediction_loss,
    voco_regularization_loss,
)


def test_voco_logits_are_cosines_clipped_at_zero():
    randoms = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    bases = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    expected = torch.tensor([[1.0, 0.0, 0.0], [1 / math.sqrt(2), 1 / math.sqrt(2), 0.0]])
    torch.testing.assert_close(voco_logits(randoms, bases), expected)


def test_voco_prediction_loss_by_hand():
    # d = |[1, 0] - [0.75, 0.25]| = [0.25, 0.25]; loss = -mean(log(0.75), log(0.75))
    assert float(voco_prediction_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.75, 0.25]]))) == pytest.approx(
        -math.log(0.75)
    )
    # d = [0.5, 0.0, 0.9] -> -(log 0.5 + log 1 + log 0.1) / 3
    logits, labels = torch.tensor([[0.5, 0.3, 0.0]]), torch.tensor([[1.0, 0.3, 0.9]])
    assert float(voco_prediction_loss(logits, labels)) == pytest.approx(-(math.log(0.5) + math.log(0.1)) / 3)
    assert float(voco_prediction_loss(labels, labels)) == pytest.approx(0.0, abs=1e-7)


def test_voco_regularization_loss_by_hand():
    # pairs: (e1, e1+e2) cos 1/sqrt2, (e1, e2) 0, (e1+e2, e2) 1/sqrt2, (., -e1) adds |-1|, |-1/sqrt2|, 0
    bases = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert float(voco_regularization_loss(bases)) == pytest.approx(2 / math.sqrt(2) / 3)
    with_opposite = torch.cat([bases, torch.tensor([[-1.0, 0.0]])])
    pairs = [1 / math.sqrt(2), 0.0, 1.0, 1 / math.sqrt(2), 1 / math.sqrt(2), 0.0]
    assert float(voco_regularization_loss(with_opposite)) == pytest.approx(sum(pairs) / 6)


def test_voco_prediction_sends_no_gradient_to_bases_and_regularization_does():
    randoms = torch.randn(4, 8, requires_grad=True)
    bases = torch.randn(9, 8, requires_grad=True)
    labels = torch.rand(4, 9)
    voco_prediction_loss(voco_logits(randoms, bases), labels).backward()
    assert bases.grad is None
    assert randoms.grad is not None and randoms.grad.abs().sum() > 0
    voco_regularization_loss(bases).backward()
    assert bases.grad is not None and bases.grad.abs().sum() > 0
