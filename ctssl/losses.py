"""The pre-training objectives as pure functions of embeddings, so each can be checked by hand.

VoCo (CVPR 2024, section 3): cosine logits between random-crop and base-crop
embeddings with the bases detached, a prediction loss from |logit - label|,
and a regularization loss driving base-base similarities to zero.
PCRLv2 (TPAMI 2023, section 3): per-scale MSE restoration and SimSiam-style
comparison with stop-gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


def cosine_logits(randoms: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """(k, C) x (n, C) -> (k, n) cosine similarities, negatives clipped to 0 (labels are overlap fractions)."""
    return F.cosine_similarity(randoms[:, None, :], bases[None, :, :], dim=-1).clamp(min=0.0)


def voco_logits(randoms: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """Eq. 1: cosine logits in [0, 1] with no gradient reaching ``bases``."""
    return cosine_logits(randoms, bases.detach())


def voco_prediction_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 2-3: d = |logit - label|, loss = -mean(log(1 - d)); 0 when every logit equals its label."""
    distance = (logits - labels).abs()
    return -torch.log((1.0 - distance).clamp(min=EPS)).mean()


def voco_regularization_loss(bases: torch.Tensor) -> torch.Tensor:
    """Eq. 4-5: mean |cos(z_i, z_j)| over pairs i < j of one volume's n base embeddings (n, C)."""
    count = bases.shape[0]
    if count < 2:
        return bases.sum() * 0.0
    similarity = F.cosine_similarity(bases[:, None, :], bases[None, :, :], dim=-1)
    upper = torch.triu_indices(count, count, offset=1, device=bases.device)
    return similarity[upper[0], upper[1]].abs().mean()


def negative_cosine(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-cos(p, sg(z)), averaged over the batch: SimSiam's D with the target detached."""
    return -F.cosine_similarity(prediction, target.detach(), dim=-1).mean()


def comparison_loss(
    features_a: torch.Tensor, features_b: torch.Tensor, predicted_a: torch.Tensor, predicted_b: torch.Tensor
) -> torch.Tensor:
    """PCRLv2 Eq. 9: 1/2 [D(p_a, sg(v_b)) + D(p_b, sg(v_a))], in [-1, 1]; lower is more similar."""
    return 0.5 * (negative_cosine(predicted_a, features_b) + negative_cosine(predicted_b, features_a))


def restoration_loss(restored: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PCRLv2 Eq. 4 for one view: MSE between the restored and the uncorrupted view."""
    return F.mse_loss(restored, target)
