"""The memory estimate: optimizer state counted per weight, activations that grow with the batch, every method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from ctssl import memory, train
from ctssl.config import OPTIMIZERS, TrainConfig
from ctssl.methods.base import Training
from ctssl.train import pretrain
from tests.ctssl.test_train import _config

IN, HIDDEN = 10, 20
WEIGHT_BYTES = (IN * HIDDEN + HIDDEN) * 4  # one fp32 Linear(10, 20)


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(IN, HIDDEN)
        self.frozen = nn.Parameter(torch.zeros(1000), requires_grad=False)  # no gradient, no optimizer state

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.relu(self.linear(x)).sum()}


TOY: Training[Any] = Training(build=lambda options: Toy(), inputs=lambda *args: {}, export=lambda *args: ({}, {}))


@pytest.mark.parametrize(("optimizer", "copies"), [("adamw", 4), ("amsgrad", 5), ("sgd", 3), ("larc", 3)])
def test_trained_weights_count_once_each_for_weights_gradients_and_every_optimizer_slot(optimizer, copies):
    needed = memory.estimate(TOY, None, optimizer, {"x": torch.zeros(4, IN)})
    assert needed.state_bytes == copies * WEIGHT_BYTES


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_slots_equal_the_state_the_real_optimizer_keeps(optimizer):
    """Every optimizer a run can choose, stepped once by torch: its weight-sized state tensors are the slots counted."""
    model = Toy()
    config = TrainConfig(
        method="voco", corpus="unused", out=Path("unused"), optimizer=optimizer, lr=1e-3, weight_decay=0.0
    )
    built = train._optimizer(config, model)
    model(torch.ones(2, IN))["loss"].backward()
    built.step()
    per_weight = {len([v for v in state.values() if v.shape == p.shape]) for p, state in built.state.items()}
    assert per_weight == {memory.OPTIMIZER_SLOTS[optimizer]}


def test_activations_grow_by_what_each_sample_keeps_for_backward():
    """Per sample the Linear keeps its input (10 floats) and the ReLU its output (20 floats) for the backward pass."""
    small = memory.estimate(TOY, None, "adamw", {"x": torch.zeros(4, IN)}).activation_bytes
    large = memory.estimate(TOY, None, "adamw", {"x": torch.zeros(8, IN)}).activation_bytes
    assert small is not None and large is not None
    assert large - small == 4 * (IN + HIDDEN) * 4


@pytest.mark.parametrize("method", ["voco", "pcrlv2", "joint2d3d"])
def test_every_method_has_its_activations_estimated(phantom_corpus, tmp_path, capsys, method):
    pretrain(_config(phantom_corpus, tmp_path, method, steps=1, checkpoint_every=1))
    line = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("memory:"))
    assert "activations not estimated" not in line, line
