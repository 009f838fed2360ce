"""VoCo's objectives, the paper's and the large-scale release's, against values worked out by hand, and
stop-gradient exactly where each puts it."""

from __future__ import annotations

import math

import pytest
import torch

from ctssl.methods.voco.losses import (
    release_position_loss,
    release_regularization_loss,
    teacher_head_losses,
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


def test_release_position_loss_by_hand():
    # labels [0.75, 0.25, 0]: overlapped = -(0.75 log(1 - |0.75 - 0.5| + eps) + 0.25 log(1 - |0.25 - 0.25| + eps)) / 1
    # untouched: the one zero label with logit 0.4 -> -log(0.6)
    labels = torch.tensor([[0.75, 0.25, 0.0]])
    logits = torch.tensor([[0.5, 0.25, 0.4]])
    overlapped = -(0.75 * math.log(0.75 + 1e-6) + 0.25 * math.log(1.0 + 1e-6)) / (1.0 + 1e-6)
    untouched = -math.log(0.6 + 1e-6) / (1.0 + 1e-6)
    assert float(release_position_loss(labels, logits)) == pytest.approx(overlapped + untouched, rel=1e-6)
    # no zero label: the second part is 0, not 0 / 0
    assert float(release_position_loss(torch.tensor([[1.0]]), torch.tensor([[1.0]]))) == pytest.approx(0, abs=1e-5)


def test_release_regularization_is_the_mean_squared_positive_cosine_with_one_side_detached():
    bases = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]], requires_grad=True)
    # pairs (0, 1): cos 1/sqrt2 -> 1/2; (0, 2): cos -1 -> relu 0; (1, 2): cos -1/sqrt2 -> 0
    loss = release_regularization_loss(bases)
    assert float(loss.detach()) == pytest.approx(0.5 / 3)
    loss.backward()
    # only the first of each pair gets gradient: base 2 is never first in a pair with a positive cosine
    assert bases.grad is not None and bases.grad[0].abs().sum() > 0 and bases.grad[2].abs().sum() == 0


def test_teacher_head_losses_by_hand():
    """Two volumes, one random crop and two bases each, 2-d embeddings chosen so every cosine is 0, 1 or 1/sqrt2."""
    e1, e2, both = [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]
    student_bases = torch.tensor([[e1, e2], [e2, both]], requires_grad=True)
    student_randoms = torch.tensor([[e1], [both]], requires_grad=True)
    teacher_bases = torch.tensor([[e1, both], [e1, e2]])
    teacher_randoms = torch.tensor([[e2], [e1]])
    labels = torch.tensor([[[1.0, 0.0]], [[0.5, 0.5]]])
    terms = teacher_head_losses(student_bases, student_randoms, teacher_bases, teacher_randoms, labels)
    c = 1 / math.sqrt(2)

    def position(y: list[float], p: list[float]) -> float:
        overlapped = -sum(a * math.log(1 - abs(a - b) + 1e-6) for a, b in zip(y, p, strict=True)) / (sum(y) + 1e-6)
        zeros = [b for a, b in zip(y, p, strict=True) if a == 0]
        return overlapped - sum(math.log(1 - b + 1e-6) for b in zeros) / (len(zeros) + 1e-6)

    # intra: student random_i against teacher bases_i
    intra = (position([1, 0], [1, c]) + position([0.5, 0.5], [c, c])) / 2
    # inter, j = i + 1 mod 2: target = teacher random_i vs teacher bases_j, prediction = student random_i vs
    # student bases_j. Volume 0: e2 vs (e1, e2) -> [0, 1]; e1 vs (e2, e1 + e2) -> [0, c]. Volume 1: e1 vs
    # (e1, e1 + e2) -> [1, c]; e1 + e2 vs (e1, e2) -> [c, c].
    inter = (position([0, 1], [0, c]) + position([1, c], [c, c])) / 2
    regularization = (0.0 + c**2) / 2  # volume 0: cos(e1, e2) = 0; volume 1: cos(e2, e1 + e2) = 1/sqrt2
    assert terms["prediction"].item() == pytest.approx(intra, rel=1e-5)
    assert terms["inter"].item() == pytest.approx(inter, rel=1e-5)
    assert terms["regularization"].item() == pytest.approx(regularization, rel=1e-5)
    (terms["prediction"] + terms["inter"]).backward()
    assert student_randoms.grad is not None and student_randoms.grad.abs().sum() > 0
    assert student_bases.grad is not None and student_bases.grad.abs().sum() > 0  # through the inter term
