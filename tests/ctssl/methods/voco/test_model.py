"""The VoCo model: the paper's head keeps gradient off the bases; the teacher head is the release's."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ctssl.methods.voco.defaults import LARGE_TINY, TINY
from ctssl.methods.voco.losses import teacher_head_losses
from ctssl.methods.voco.model import VoCo

SIDE = (32, 32, 64)


def _voco_inputs(batch: int = 2, bases: int = 4, randoms: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "bases": torch.rand(batch, bases, 1, *SIDE, generator=generator),
        "randoms": torch.rand(batch, randoms, 1, *SIDE, generator=generator),
        "labels": torch.softmax(torch.rand(batch, randoms, bases, generator=generator), dim=-1),
    }


def test_paper_head_bases_get_gradient_only_through_the_regularization():
    """In training mode: the projector's batch norm must not carry gradient from random crops to bases."""
    torch.manual_seed(0)
    for weight, reaches_bases in ((0.0, False), (1.0, True)):
        model = VoCo(replace(TINY, projection_dim=32, regularization_weight=weight)).train()
        inputs = _voco_inputs()
        inputs["bases"].requires_grad_(True)
        inputs["randoms"].requires_grad_(True)
        terms = model(**inputs)
        assert set(terms) == {"loss", "prediction", "regularization"}
        terms["loss"].backward()
        assert inputs["randoms"].grad is not None and inputs["randoms"].grad.abs().sum() > 0
        assert inputs["bases"].grad is not None
        assert (inputs["bases"].grad.abs().sum() > 0) == reaches_bases


def test_teacher_head_is_the_release_head_on_the_projected_embeddings():
    """Recomputed outside the model: one backbone pass, the student projector on the dropped embeddings, the
    teacher projector on the untouched ones, then the release's terms."""
    torch.manual_seed(0)
    model = VoCo(replace(LARGE_TINY, projection_dim=32)).train()
    inputs = _voco_inputs()
    kept = torch.tensor([1.25, 0.0, 1.25, 1.25, 1.25, 1.25, 0.0, 1.25, 1.25, 1.25, 1.25, 1.25])
    terms = model(**inputs, kept=kept)
    assert set(terms) == {"loss", "prediction", "inter", "regularization"}
    features = model.backbone(torch.cat([inputs["bases"], inputs["randoms"]], dim=1).flatten(0, 1))
    student = model.student(features * kept[:, None]).view(2, 6, -1)
    assert model.teacher is not None
    teacher = model.teacher(features).view(2, 6, -1)
    expected = teacher_head_losses(student[:, :4], student[:, 4:], teacher[:, :4], teacher[:, 4:], inputs["labels"])
    for name, value in expected.items():
        torch.testing.assert_close(terms[name], value, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms["loss"], expected["prediction"] + expected["inter"] + expected["regularization"])
    with pytest.raises(ValueError, match="kept"):
        model(**inputs)


def test_teacher_is_an_ema_of_the_student_projector_only_and_gets_no_gradient():
    torch.manual_seed(0)
    model = VoCo(replace(LARGE_TINY, projection_dim=32, teacher_momentum=0.9))
    assert model.teacher is not None
    teacher_start = [p.detach().clone() for p in model.teacher.parameters()]
    student_start = [p.detach().clone() for p in model.student.parameters()]
    assert not all(torch.equal(t, s) for t, s in zip(teacher_start, student_start, strict=True))  # its own start
    model(**_voco_inputs(), kept=torch.ones(12))["loss"].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None for p in [*model.student.parameters(), *model.backbone.parameters()])
    model.update_teacher()
    for held, before, learned in zip(model.teacher.parameters(), teacher_start, student_start, strict=True):
        torch.testing.assert_close(held, 0.9 * before + 0.1 * learned)
    names = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert names == {"backbone", "student", "teacher"}  # one backbone: the teacher shares it
