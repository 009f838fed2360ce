"""The segmentation network an export names, and loading its weights with a full account.

An export (``encoder.pt`` + ``encoder.json``) names a MONAI class and its
arguments; the network gets ``out_channels`` = classes + background. Every
tensor of the file whose name and shape match a model key is loaded; the
report lists the model keys filled, the keys left at initialisation and the
file's tensors that found no place, so a partial load is never silent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.networks.nets import BasicUNet, SwinUNETR
from torch import nn

from ctssl.export import DESCRIPTION

CLASSES: dict[str, type[nn.Module]] = {
    "monai.networks.nets.SwinUNETR": SwinUNETR,
    "monai.networks.nets.BasicUNet": BasicUNet,
}


@dataclass(frozen=True)
class LoadReport:
    filled: tuple[str, ...]  # model keys taken from the file
    kept: tuple[str, ...]  # model keys left at initialisation
    unused: tuple[str, ...]  # file tensors with no model key of that name and shape

    def summary(self) -> dict[str, Any]:
        total = len(self.filled) + len(self.kept)
        return {
            "filled": len(self.filled),
            "kept_at_init": len(self.kept),
            "model_keys": total,
            "unused_in_file": list(self.unused),
            "kept_prefixes": sorted({key.split(".", 1)[0] for key in self.kept}),
        }


def read_target(weights: Path) -> dict[str, Any]:
    """The ``target`` of the export's encoder.json beside ``weights``."""
    path = weights.parent / DESCRIPTION
    if not path.is_file():
        raise ValueError(f"{path} not found: --weights must be an encoder.pt written by `corpus export` or pretrain")
    target: dict[str, Any] = json.loads(path.read_text())["target"]
    if target["class"] not in CLASSES:
        raise ValueError(
            f"{path} names {target['class']}; fine-tuning builds {sorted(CLASSES)} (VoCo and PCRLv2 exports)"
        )
    return target


def build_model(target: dict[str, Any], classes: int) -> nn.Module:
    """The network of ``target`` with ``classes`` + 1 output channels (background first)."""
    kwargs = dict(target["kwargs"])
    if target["class"].endswith("BasicUNet"):
        kwargs["features"] = tuple(kwargs["features"])
    return CLASSES[target["class"]](out_channels=classes + 1, **kwargs)


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> LoadReport:
    """Copy every tensor whose name and shape match; report what was filled, kept and unused."""
    own = model.state_dict()
    fitting = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fitting, strict=False)
    return LoadReport(
        filled=tuple(sorted(fitting)),
        kept=tuple(sorted(set(own) - set(fitting))),
        unused=tuple(sorted(set(weights) - set(fitting))),
    )
