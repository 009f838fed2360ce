"""Joint 2D/3D model: gradients where the paper puts them, stop-gradients where it does not, the hooks."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ctssl.methods import joint2d3d
from ctssl.methods.joint2d3d.defaults import JointOptions
from ctssl.methods.joint2d3d.model import Joint2D3D
from ctssl.methods.joint2d3d.stages import CLUSTER_2D, CLUSTER_3D, JOINT, MASK, stage_lr_factor, stage_span
from ctssl.methods.joint2d3d.training import after_backward, before_forward

TINY = joint2d3d.METHOD.tiny


def _model(options: JointOptions = TINY) -> Joint2D3D:
    """A model past its first update: the decoder (zero at the start) maps tokens back."""
    torch.manual_seed(0)
    model = Joint2D3D(options)
    torch.nn.init.normal_(model.decoder.weight, std=0.02)
    return model


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    views = torch.rand(batch, 2, 8, 1, 32, 32, generator=generator)
    mask = torch.zeros(batch, 8, dtype=torch.bool)
    mask[:, 3] = True
    return views, mask


PARTS = {
    "backbone": lambda m: m.encoder.intra,
    "head_2d": lambda m: m.head_2d,
    "prototypes_2d": lambda m: m.prototypes_2d,
    "f_inter": lambda m: m.encoder.inter,
    "offsets": lambda m: m.encoder.inter.layers[0].attn.offset,
    "prototypes_3d": lambda m: m.prototypes_3d,
    "decoder": lambda m: m.decoder,
}


def _gradients(model: Joint2D3D, loss: torch.Tensor) -> dict[str, bool | None]:
    """Per part: None when no parameter got a gradient, else whether any gradient is non-zero."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    found: dict[str, bool | None] = {}
    for name, part in (*PARTS.items(), ("mask_token", None)):
        parameters = [model.mask_token] if part is None else list(part(model).parameters())
        grads = [p.grad for p in parameters if p.grad is not None]
        found[name] = None if not grads else any(bool(g.abs().sum() > 0) for g in grads)
    return found


STAGE_PARTS = {
    CLUSTER_2D: ({"backbone", "head_2d", "prototypes_2d"}, {"f_inter", "prototypes_3d", "decoder", "mask_token"}),
    MASK: ({"f_inter", "offsets", "decoder", "mask_token"}, {"backbone", "head_2d", "prototypes_2d", "prototypes_3d"}),
    CLUSTER_3D: (
        {"backbone", "f_inter", "offsets", "prototypes_3d"},
        {"head_2d", "prototypes_2d", "decoder", "mask_token"},
    ),
}


@pytest.mark.parametrize("stage", list(STAGE_PARTS))
def test_each_stage_trains_its_parts_and_leaves_the_others(stage):
    trained, untouched = STAGE_PARTS[stage]
    model = _model()
    views, mask = _inputs()
    found = _gradients(model, model(views, mask, stage)["loss"])
    assert {name for name, value in found.items() if value} == trained
    assert all(found[name] is None for name in untouched), found


def test_the_masked_prediction_starts_at_the_embeddings_norm():
    torch.manual_seed(0)
    terms = Joint2D3D(TINY)(*_inputs(), stage=MASK)  # a fresh decoder predicts zeros
    assert float(terms["mask"].detach()) == pytest.approx(5**0.5, rel=1e-5)  # five unit-norm levels


def test_the_mask_stage_freezes_the_backbone_batch_statistics():
    model = _model()
    before = {key: value.clone() for key, value in model.encoder.intra.state_dict().items()}
    model(*_inputs(), stage=MASK)
    after = model.encoder.intra.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert model.encoder.intra.training  # eval only for that forward


def test_in_the_joint_schedule_only_the_3d_clustering_reaches_the_backbone_through_f_inter():
    model = _model(replace(TINY, schedule="joint"))
    views, mask = _inputs()
    terms = model(views, mask, JOINT)
    assert set(terms) == {"cluster_2d", "cluster_3d", "mask", "loss", "stage"}
    torch.testing.assert_close(terms["loss"], terms["cluster_2d"] + terms["cluster_3d"] + terms["mask"])
    assert _gradients(model, model(views, mask, JOINT)["mask"])["backbone"] is None  # Y is detached for L_mask
    assert _gradients(model, model(views, mask, JOINT)["cluster_3d"])["backbone"] is True


def test_masked_slices_enter_f_inter_as_the_mask_token():
    model = _model()
    views, mask = _inputs()
    seen = []
    model.encoder.inter.proj.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    model(views, mask, MASK)
    (hidden,) = seen  # (2B, n, F_in): both views of each volume, the same slices masked
    flat_mask = mask.repeat_interleave(2, dim=0)
    torch.testing.assert_close(hidden[flat_mask], model.mask_token.detach().expand(int(flat_mask.sum()), -1))
    assert not torch.allclose(hidden[~flat_mask][0], model.mask_token.detach())


def test_prototypes_get_unit_rows_before_the_forward_and_no_update_early_in_a_stage():
    options = replace(TINY, freeze_prototypes_steps=2)
    model = _model(options)
    with torch.no_grad():
        model.prototypes_2d[0].weight.mul_(3.0)
    extra = before_forward(model, step=0, steps=9)
    assert extra == {"stage": CLUSTER_2D}
    torch.testing.assert_close(model.prototypes_2d[0].weight.norm(dim=1), torch.ones(16))
    for step, frozen in ((0, True), (1, True), (2, False), (3, True), (5, False)):  # stage 2 starts at step 3
        stage = stage_span(step, 9, options)[0]
        loss = model(*_inputs(), stage=CLUSTER_2D if stage == MASK else stage)["loss"]
        model.zero_grad(set_to_none=True)
        loss.backward()
        after_backward(model, step, 9)
        assert (model.prototypes_2d[0].weight.grad is None) == frozen, step


def test_stages_take_their_share_of_the_steps_and_restart_the_lr():
    assert [stage_span(step, 3, TINY)[0] for step in range(3)] == [CLUSTER_2D, MASK, CLUSTER_3D]
    assert [stage_span(step, 6, TINY)[0] for step in range(6)] == [1, 1, 2, 2, 3, 3]
    assert [stage_span(step, 5, replace(TINY, schedule="joint"))[0] for step in range(5)] == [JOINT] * 5
    assert {stage_span(step, 6, replace(TINY, mode="2d"))[0] for step in range(6)} == {CLUSTER_2D}
    factors = [stage_lr_factor(TINY, step, 9, warmup_steps=2) for step in range(9)]
    assert factors == pytest.approx([0.5, 1.0, 1.0] * 3)  # each 3-step stage warms up again, then decays


def test_deepcluster_targets_start_after_the_first_clustering():
    options = replace(TINY, clustering="deepcluster", schedule="joint")
    model = _model(options)
    views, mask = _inputs()
    before_forward(model, 0, 10)  # empty banks: nothing to cluster
    first = model(views, mask, JOINT)
    assert float(first["cluster_2d"].detach()) == 0.0 and float(first["cluster_3d"].detach()) == 0.0
    assert int(model.banks["2d"].pushed) == 2 * 2 * 8 and int(model.banks["3d"].pushed) == 2 * 2
    before_forward(model, 1, 10)  # the banks now hold enough: k-means sets the prototypes
    assert int(model.banks["2d"].clusterings) == 1 and int(model.banks["3d"].clusterings) == 1
    second = model(views, mask, JOINT)
    assert float(second["cluster_2d"].detach()) > 0 and float(second["cluster_3d"].detach()) > 0
    assert len(model.prototypes_2d) == 3 and model.prototypes_3d[0].weight.shape == (4, 32)


def test_options_are_checked_with_the_reason():
    with pytest.raises(ValueError, match="clustering must be one of swav, deepcluster"):
        replace(TINY, clustering="kmeans")
    with pytest.raises(ValueError, match="shorter than the attention's reduction"):
        replace(TINY, slices=1)
    assert replace(TINY, slices=1, mode="2d").slices == 1
