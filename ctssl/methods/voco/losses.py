"""VoCo's objectives as pure functions of embeddings, so each can be checked by hand.

The paper's (CVPR 2024, section 3): cosine logits between random-crop and
base-crop embeddings with the bases detached, a prediction loss from
|logit - label|, and a regularization loss driving base-base similarities to
zero. The large-scale release's (Large-Scale-Medical,
Self-supervised/models/voco_head.py): the same logits scored by a
label-weighted term on the overlapped bases plus -log(1 - logit) on the bases
a crop does not touch, a squared, one-sided regularization, and the teacher
head's intra- and inter-volume terms built from them.
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
    similarity = F.cosine_similarity(bases[:, None, :], bases[None, :, :], dim=-1)
    return _mean_over_pairs(similarity.abs())


def release_position_loss(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The release's position loss of (k, n) logits against labels (or a target's similarities):

    sum(-y log(1 - |y - p| + eps)) / (sum(y) + eps), a label-weighted mean over the bases a crop overlaps,
    plus the mean of -log(1 - p + eps) over the entries whose label is exactly 0.
    """
    overlapped = -(labels * torch.log(1 - (labels - logits).abs() + EPS)).sum() / (labels.sum() + EPS)
    untouched = (labels == 0).float()
    apart = -(untouched * torch.log(1 - logits + EPS)).sum() / (untouched.sum() + EPS)
    return overlapped + apart


def release_regularization_loss(bases: torch.Tensor) -> torch.Tensor:
    """The release's regularization: mean over pairs i < j of relu(cos(b_i, sg(b_j)))^2; (n, C) bases."""
    similarity = F.cosine_similarity(bases[:, None, :], bases.detach()[None, :, :], dim=-1)
    return _mean_over_pairs(similarity.clamp(min=0.0) ** 2)


def teacher_head_losses(
    student_bases: torch.Tensor,
    student_randoms: torch.Tensor,
    teacher_bases: torch.Tensor,
    teacher_randoms: torch.Tensor,
    labels: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The release's teacher-head terms, each averaged over the B volumes of (B, n|k, C) embeddings:

    prediction (intra-volume): labels_i against cos(student randoms_i, teacher bases_i);
    inter (volume i against its neighbour j = i + 1 mod B): the student's cos(randoms_i, student bases_j)
    against the teacher's cos(randoms_i, bases_j), the latter detached;
    regularization: over each volume's student bases.
    """
    volumes = labels.shape[0]
    prediction, inter, regularization = [], [], []
    for i in range(volumes):
        j = (i + 1) % volumes
        prediction.append(release_position_loss(labels[i], cosine_logits(student_randoms[i], teacher_bases[i])))
        target = cosine_logits(teacher_randoms[i], teacher_bases[j]).detach()
        inter.append(release_position_loss(target, cosine_logits(student_randoms[i], student_bases[j])))
        regularization.append(release_regularization_loss(student_bases[i]))
    return {
        "prediction": torch.stack(prediction).mean(),
        "inter": torch.stack(inter).mean(),
        "regularization": torch.stack(regularization).mean(),
    }


def _mean_over_pairs(values: torch.Tensor) -> torch.Tensor:
    """Mean of an (n, n) matrix's entries above the diagonal (0 for fewer than two rows)."""
    count = values.shape[0]
    if count < 2:
        return values.sum() * 0.0
    upper = torch.triu_indices(count, count, offset=1, device=values.device)
    return values[upper[0], upper[1]].mean()
