"""The VoCo model: stop-gradient on the bases through the projector, and the EMA teacher."""

from __future__ import annotations

from dataclasses import replace

import torch

from ctssl.methods.voco.defaults import TINY
from ctssl.methods.voco.model import VoCo


def _voco_inputs(batch: int = 2, bases: int = 4, randoms: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "bases": torch.rand(batch, bases, 1, 32, 32, 32, generator=generator),
        "randoms": torch.rand(batch, randoms, 1, 32, 32, 32, generator=generator),
        "labels": torch.softmax(torch.rand(batch, randoms, bases, generator=generator), dim=-1),
    }


def test_voco_bases_get_gradient_only_through_the_regularization():
    """In training mode: the projector's batch norm must not carry gradient from random crops to bases."""
    torch.manual_seed(0)
    for weight, reaches_bases in ((0.0, False), (1.0, True)):
        model = VoCo(replace(TINY, projection_dim=32, regularization_weight=weight)).train()
        inputs = _voco_inputs()
        inputs["bases"].requires_grad_(True)
        inputs["randoms"].requires_grad_(True)
        model(**inputs)["loss"].backward()
        assert inputs["randoms"].grad is not None and inputs["randoms"].grad.abs().sum() > 0
        assert inputs["bases"].grad is not None
        assert (inputs["bases"].grad.abs().sum() > 0) == reaches_bases


def test_voco_teacher_follows_the_student_by_ema_and_the_student_learns_through_both_logit_terms():
    torch.manual_seed(0)
    model = VoCo(replace(TINY, projection_dim=32, teacher_momentum=0.9))
    assert model.teacher is not None
    terms = model(**_voco_inputs())
    assert set(terms) == {"loss", "prediction", "regularization", "inter"}
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.student.parameters())
    student = next(model.student.parameters())
    before = next(model.teacher.parameters()).detach().clone()
    with torch.no_grad():
        student.add_(1.0)
    model.update_teacher()
    torch.testing.assert_close(next(model.teacher.parameters()), 0.9 * before + 0.1 * student.detach())
