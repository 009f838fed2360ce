"""Joint 2D/3D's torch side: the model, its inputs, the per-step hooks (stage, prototypes, re-clustering,
the per-stage learning rate) and the two exports."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ctssl.methods.base import Training
from ctssl.methods.joint2d3d.deepcluster import EmbeddingBank, recluster
from ctssl.methods.joint2d3d.defaults import JointOptions
from ctssl.methods.joint2d3d.export import export_backbone, export_hybrid
from ctssl.methods.joint2d3d.model import Joint2D3D
from ctssl.methods.joint2d3d.stages import CLUSTER_2D, CLUSTER_3D, JOINT, stage_lr_factor, stage_span
from ctssl.methods.joint2d3d.views import joint_inputs


def _model(model: nn.Module) -> Joint2D3D:
    assert isinstance(model, Joint2D3D)
    return model


@torch.no_grad()
def before_forward(model: nn.Module, step: int, steps: int) -> dict[str, Any]:
    """The step's stage; prototypes back to unit rows (SwAV); DeepCluster's k-means when due."""
    joint = _model(model)
    stage, _, _ = stage_span(step, steps, joint.options)
    for weight in joint.prototype_parameters():
        weight.copy_(F.normalize(weight, dim=1))
    active = {"2d": stage in (CLUSTER_2D, JOINT), "3d": stage in (CLUSTER_3D, JOINT)}
    for kind, bank in joint.banks.items():
        assert isinstance(bank, EmbeddingBank)
        due = step % joint.options.dc_recluster_every == 0 or not int(bank.clusterings.item())
        if active[kind] and due:
            recluster(bank, joint.prototypes_2d if kind == "2d" else joint.prototypes_3d, step)
    return {"stage": stage}


def peak_step(options: JointOptions) -> dict[str, Any]:
    """Every objective at once (a superset of each staged step); a 2D-only run has its one stage."""
    return {"stage": CLUSTER_2D if options.mode == "2d" else JOINT}


def after_backward(model: nn.Module, step: int, steps: int) -> None:
    """No prototype update in the first ``freeze_prototypes_steps`` of a stage (SwAV: it stabilises the start)."""
    joint = _model(model)
    _, start, _ = stage_span(step, steps, joint.options)
    if step - start < joint.options.freeze_prototypes_steps:
        for weight in joint.prototype_parameters():
            weight.grad = None


def _exports(model: nn.Module, options: JointOptions) -> dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """The hybrid 2D + transformer encoder for 3D tasks (a 2D-only run trains no f_inter: nothing)."""
    return {} if options.mode == "2d" else {"hybrid": export_hybrid(_model(model), options)}


def _export(model: nn.Module, options: JointOptions) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    return export_backbone(_model(model), options)


# A stage leaves whole parts without gradient (f_inter in stage 1, f_intra in stage 2, the 2D head in stage 3).
TRAINING = Training(
    build=Joint2D3D,
    inputs=joint_inputs,
    export=_export,
    exports=_exports,
    before_forward=before_forward,
    after_backward=after_backward,
    lr_factor=stage_lr_factor,
    peak_step=peak_step,
    find_unused_parameters=True,
)
