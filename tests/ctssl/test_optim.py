"""LARC by hand: each tensor moves by lr * trust of its own norm, whatever its gradient's scale."""

from __future__ import annotations

import torch

from ctssl.optim import LARC


def _one_step(weight_decay: float, gradient: list[float], start: list[float] | None = None) -> torch.Tensor:
    parameter = torch.nn.Parameter(torch.tensor(start or [3.0, 4.0]))
    parameter.grad = torch.tensor(gradient)
    optimizer = LARC([parameter], lr=1.0, momentum=0.0, weight_decay=weight_decay, trust=1e-3)
    optimizer.step()
    assert optimizer.param_groups[0]["weight_decay"] == weight_decay  # restored after the step
    return parameter.detach()


def test_the_step_is_trust_times_the_weight_norm():
    # |p| = 5, |g| = 1: adaptive rate 1e-3 * 5 / 1 = 0.005, step 0.005 * (0.6, 0.8)
    torch.testing.assert_close(_one_step(0.0, [0.6, 0.8]), torch.tensor([2.997, 3.996]))
    torch.testing.assert_close(_one_step(0.0, [60.0, 80.0]), torch.tensor([2.997, 3.996]))  # scale-free


def test_weight_decay_joins_the_direction_before_the_rescaling():
    # g + 0.1 p = (0.9, 1.2); rate 0.005 / (1 + 0.1 * 5) = 0.00333: the same step (0.003, 0.004)
    torch.testing.assert_close(_one_step(0.1, [0.6, 0.8]), torch.tensor([2.997, 3.996]))


def test_zero_gradients_and_zero_weights_keep_the_plain_step():
    torch.testing.assert_close(_one_step(0.1, [0.0, 0.0]), torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(_one_step(0.1, [0.5, -0.5], start=[0.0, 0.0]), torch.tensor([-0.5, 0.5]))


def test_its_state_is_sgds_and_resumes_as_sgd():
    parameter = torch.nn.Parameter(torch.ones(3))
    optimizer = LARC([parameter], lr=0.1, momentum=0.9)
    parameter.grad = torch.ones(3)
    optimizer.step()
    state = optimizer.state_dict()
    again = LARC([torch.nn.Parameter(parameter.detach().clone())], lr=0.1, momentum=0.9)
    again.load_state_dict(state)
    assert torch.equal(again.state_dict()["state"][0]["momentum_buffer"], state["state"][0]["momentum_buffer"])
