"""VoCo's objectives (CVPR 2024, section 3) as pure functions of embeddings, so each can be checked by hand.

Cosine logits between random-crop and base-crop embeddings with the bases
detached, a prediction loss from |logit - label|, and a regularization loss
driving base-base similarities to zero.
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
