"""LARC: SGD whose step for each parameter tensor is scaled to its own norm (You et al., layer-wise adaptive rates).

For each tensor p with gradient g and weight decay wd, the update direction
g + wd p is scaled by trust * |p| / (|g| + wd |p| + eps) before a plain SGD
step (momentum, no further decay): a tensor moves by about lr * trust of its
own norm per step, whatever its gradient's scale. Tensors whose norm or
gradient norm is zero keep the plain gradient (and no decay). The state is
SGD's, so checkpoints resume as for SGD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class LARC(torch.optim.SGD):
    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        trust: float = 1e-3,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr, momentum=momentum, weight_decay=weight_decay)
        self.trust, self.eps = trust, eps

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        decays = []
        for group in self.param_groups:
            decays.append(group["weight_decay"])
            for parameter in group["params"]:
                if parameter.grad is not None:
                    self._rescale(parameter, group["weight_decay"])
            group["weight_decay"] = 0.0  # applied above, inside the rescaled gradient
        try:
            return super().step(closure)
        finally:
            for group, decay in zip(self.param_groups, decays, strict=True):
                group["weight_decay"] = decay

    def _rescale(self, parameter: torch.nn.Parameter, weight_decay: float) -> None:
        assert parameter.grad is not None
        weight_norm = torch.linalg.vector_norm(parameter)
        grad_norm = torch.linalg.vector_norm(parameter.grad)
        scaled = (weight_norm > 0) & (grad_norm > 0)  # tensors, not Python bools: no device sync per parameter
        adaptive = torch.where(
            scaled, self.trust * weight_norm / (grad_norm + weight_decay * weight_norm + self.eps), 1.0
        )
        decay = torch.where(scaled, weight_decay, 0.0)
        parameter.grad.add_(parameter * decay).mul_(adaptive)
