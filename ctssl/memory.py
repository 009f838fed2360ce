"""Will the chosen model fit on the device? Estimated from the model and the first batch, before training starts.

The estimate: weights, gradients and optimizer state in fp32 (AdamW keeps two
slots per weight, SGD with momentum one), plus the tensors one step keeps for
its backward pass, counted by running the forward of the first batch on
PyTorch's meta device (shapes only: nothing is allocated), plus a margin for
the allocator and convolution workspaces. It is held against what the device
has free (CUDA's free memory; on the CPU, the machine's available memory), so
a run that cannot fit says so, with the options that change it, instead of
being killed for memory hours later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psutil
import torch
from torch import nn

from ctssl.methods import Training

GIB = 1024**3
MARGIN = 1.25  # allocator fragmentation, convolution workspaces, pinned loader buffers
# fp32 tensors of optimizer state per weight (AMSGrad also keeps the running maximum; SGD, LARC: momentum)
OPTIMIZER_SLOTS = {"adamw": 2, "amsgrad": 3, "sgd": 1, "larc": 1}


@dataclass(frozen=True)
class Estimate:
    state_bytes: int  # weights + gradients + optimizer state
    activation_bytes: int | None  # saved for the backward pass; None when the model cannot run on meta tensors

    @property
    def total_bytes(self) -> int:
        return int(MARGIN * (self.state_bytes + (self.activation_bytes or 0)))

    def describe(self) -> str:
        activations = "not estimated" if self.activation_bytes is None else _gib(self.activation_bytes)
        return (
            f"about {_gib(self.total_bytes)} (weights, gradients and optimizer state {_gib(self.state_bytes)}, "
            f"activations {activations}, {MARGIN - 1:.0%} margin)"
        )


def estimate(training: Training[Any], options: Any, optimizer: str, inputs: dict[str, Any]) -> Estimate:
    """The memory one training step of ``training.build(options)`` on ``inputs`` needs.

    The model is built on the CPU (some models read values while they are built)
    and then moved to the meta device for the forward pass.
    """
    model = training.build(options).to("meta")
    weights = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return Estimate(weights * (2 + OPTIMIZER_SLOTS[optimizer]), _activations(model, inputs))


def available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return int(psutil.virtual_memory().available)


def shortfall(needed: Estimate, available: int, device: torch.device, batch_size: int, method: str) -> str | None:
    """None when the step fits, else what to tell the user."""
    if needed.total_bytes <= available:
        return None
    return (
        f"{method} needs {needed.describe()} on {device}, but {_gib(available)} are free. Lower --batch-size "
        f"(now {batch_size} per process), choose a smaller model (see `corpus pretrain {method} --help`), or use a "
        "device with more memory; --no-memory-check starts anyway."
    )


def _activations(model: nn.Module, inputs: dict[str, Any]) -> int | None:
    saved = 0

    def count(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        if not isinstance(tensor, nn.Parameter):
            saved += tensor.numel() * tensor.element_size()
        return tensor

    try:
        with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
            model(**_on_meta(inputs))
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return None  # an operation without a meta kernel: the weights alone are checked
    return saved


def _on_meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, dict):
        return {key: _on_meta(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_meta(item) for item in value)
    return value


def _gib(nbytes: int) -> str:
    return f"{nbytes / GIB:.2f} GiB"
