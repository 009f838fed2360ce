"""PCRLv2's objectives (TPAMI 2023, section 3) as pure functions: per-scale MSE restoration and
SimSiam-style comparison with stop-gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def negative_cosine(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-cos(p, sg(z)), averaged over the batch: SimSiam's D with the target detached."""
    return -F.cosine_similarity(prediction, target.detach(), dim=-1).mean()


def comparison_loss(
    features_a: torch.Tensor, features_b: torch.Tensor, predicted_a: torch.Tensor, predicted_b: torch.Tensor
) -> torch.Tensor:
    """Eq. 9: 1/2 [D(p_a, sg(v_b)) + D(p_b, sg(v_a))], in [-1, 1]; lower is more similar."""
    return 0.5 * (negative_cosine(predicted_a, features_b) + negative_cosine(predicted_b, features_a))


def restoration_loss(restored: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 4 for one view: MSE between the restored and the uncorrupted view."""
    return F.mse_loss(restored, target)
