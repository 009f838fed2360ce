"""What joint 2D/3D pre-training hands to fine-tuning: the 2D backbone and the hybrid encoder.

``encoder.pt``: f_intra under torchvision's ResNet-50 names (no ``fc``), for 2D
tasks (a 2D U-Net or detector backbone run slice by slice). ``hybrid.pt``:
f_intra + f_inter as :class:`ctssl.models.hybrid.HybridEncoder`, for 3D tasks.
"""

from __future__ import annotations

from typing import Any

import torch

from ctssl.methods.joint2d3d.defaults import JointOptions
from ctssl.methods.joint2d3d.model import Joint2D3D, hybrid_kwargs
from ctssl.methods.joint2d3d.views import WINDOW
from ctssl.models.resnet2d import backbone_kwargs

SLICE_INPUT = (
    f"one slice, HU windowed {WINDOW[0]:g}..{WINDOW[1]:g} -> [0, 1], grey repeated to 3 channels, no mean/std "
    "normalisation, oriented as a radiologist reads it (ctssl.samplers.slices.LAYOUTS)"
)


def export_backbone(model: Joint2D3D, options: JointOptions) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The 2D backbone's weights (torchvision names) and what loads them."""
    weights = {key: value.detach().cpu().clone() for key, value in model.encoder.intra.state_dict().items()}
    monai = {
        "class": "monai.networks.nets.ResNet",
        "kwargs": {**backbone_kwargs(options.backbone), "feed_forward": False},
        "load": "model.load_state_dict(torch.load(path))  # strict",
    }
    if options.backbone != "resnet50":
        return weights, {**monai, "input": SLICE_INPUT}
    target = {
        "class": "torchvision.models.resnet50",
        "kwargs": {},
        "load": "model.load_state_dict(torch.load(path), strict=False)  # every key but fc.weight and fc.bias",
        "input": SLICE_INPUT,
        "monai": monai,  # the same network without torchvision
    }
    return weights, target


def export_hybrid(model: Joint2D3D, options: JointOptions) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The hybrid encoder's weights and what loads them."""
    weights = {key: value.detach().cpu().clone() for key, value in model.encoder.state_dict().items()}
    target = {
        "class": "ctssl.models.hybrid.HybridEncoder",
        "kwargs": hybrid_kwargs(options),
        "load": "model.load_state_dict(torch.load(path))  # strict",
        "input": (
            f"(B, n, 1, H, W): n slices in order, each as for encoder.pt but one grey channel; "
            f"n >= {options.reduction}; beyond {options.max_slices} slices apart the position bias stays constant"
        ),
        "output": "forward(x) -> (volume feature (B, d_model), slice tokens (B, n, d_model))",
        "classifier": "ctssl.models.hybrid.HybridClassifier(encoder, classes): the paper's two fully connected layers",
    }
    return weights, target
