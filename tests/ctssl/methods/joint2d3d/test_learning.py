"""Joint 2D/3D learns: on a fixed batch of real slice stacks every objective falls."""

from __future__ import annotations

from dataclasses import replace

import torch

from ctssl.methods import METHODS
from ctssl.methods.joint2d3d.model import Joint2D3D
from ctssl.methods.joint2d3d.stages import JOINT
from ctssl.methods.joint2d3d.training import before_forward
from tests.ctssl.methods.test_learning import _fixed_batch


def test_every_objective_falls_on_a_fixed_batch(phantom_corpus):
    inputs = _fixed_batch(phantom_corpus, "joint2d3d")
    torch.manual_seed(0)
    model = Joint2D3D(replace(METHODS["joint2d3d"].tiny, schedule="joint"))
    # AdamW, not the default LARC: LARC moves each tensor by lr * 1e-3 of its norm a step, too little for 15 steps.
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    curve = []
    for step in range(15):
        terms = model(**inputs, **before_forward(model, step, 15))
        curve.append({name: float(value.detach()) for name, value in terms.items()})
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
    with torch.no_grad():
        last = {name: float(value) for name, value in model(**inputs, stage=JOINT).items()}
    first = curve[0]
    assert last["cluster_2d"] < 0.5 * first["cluster_2d"]
    assert last["cluster_3d"] < 0.8 * first["cluster_3d"]
    assert last["mask"] < 0.65 * first["mask"]  # its targets move as the backbone learns the clusterings
    assert last["loss"] < 0.6 * first["loss"]
