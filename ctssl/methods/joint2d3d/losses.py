"""Joint 2D/3D objectives as pure functions, so each can be checked by hand.

Sinkhorn codes and the swapped SwAV prediction (Eq. 2-4, used for slices and
for volumes, Eq. 11), DeepCluster-v2's swapped cross-entropy on hard cluster
targets, and the masked embedding loss (Eq. 15). Codes and targets carry no
gradient; every loss is computed in fp32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ctssl.distributed import reduce_in_place


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """Eq. 2: codes (N, K) of scores (N, K) spread evenly over the K prototypes.

    exp(scores / epsilon), then alternately every prototype's total set to N/K and every
    sample's to 1, ``iterations`` times; the sums run over the samples of every process,
    so all processes solve one problem. Each row of the result sums to 1.
    """
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32))  # fp32 at least (fp64 stays fp64)
    top = reduce_in_place(scores.max().clone(), "max")  # a shift every process shares leaves q unchanged
    codes = torch.exp((scores - top) / epsilon).T  # (K, N)
    codes /= reduce_in_place(codes.sum())
    prototypes = codes.shape[0]
    samples = reduce_in_place(torch.tensor(float(codes.shape[1]), device=codes.device, dtype=codes.dtype))
    for _ in range(iterations):
        codes /= reduce_in_place(codes.sum(dim=1, keepdim=True))
        codes /= prototypes
        codes /= codes.sum(dim=0, keepdim=True)
        codes /= samples
    return (codes * samples).T


def soft_cross_entropy(scores: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. 4: -sum_k q^k log softmax(scores / tau)^k, averaged over the rows."""
    return -(targets * F.log_softmax(scores.float() / temperature, dim=1)).sum(dim=1).mean()


def swav_loss(
    scores_s: torch.Tensor, scores_t: torch.Tensor, temperature: float, epsilon: float, iterations: int
) -> torch.Tensor:
    """Eq. 3 (and 11) averaged over its two terms: 1/2 [l(z_t, q_s) + l(z_s, q_t)], codes without gradient."""
    codes_s = sinkhorn(scores_s.detach(), epsilon, iterations)
    codes_t = sinkhorn(scores_t.detach(), epsilon, iterations)
    return 0.5 * (
        soft_cross_entropy(scores_t, codes_s, temperature) + soft_cross_entropy(scores_s, codes_t, temperature)
    )


def deepcluster_loss(scores_s: torch.Tensor, scores_t: torch.Tensor, temperature: float) -> torch.Tensor:
    """DeepCluster-v2 with swapped targets: each view predicts the cluster whose centroid is nearest the other view.

    scores = embedding . centroids, so the target is the other view's (detached) highest score.
    """
    targets_s, targets_t = scores_t.detach().argmax(dim=1), scores_s.detach().argmax(dim=1)
    first = F.cross_entropy(scores_s.float() / temperature, targets_s)
    second = F.cross_entropy(scores_t.float() / temperature, targets_t)
    return 0.5 * (first + second)


def masked_embedding_loss(targets: torch.Tensor, predictions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 15: the L2 distance (not squared) between predicted and input embeddings at the masked slices.

    ``targets`` and ``predictions`` (B, n, F), ``mask`` (B, n) bool. Mean over each volume's masked
    slices (Eq. 15 sums them; the mean keeps the loss independent of n), then over volumes. The
    targets are detached: f_intra is not trained by this loss.
    """
    distance = torch.linalg.vector_norm(predictions.float() - targets.detach().float(), dim=-1)
    per_volume = torch.where(mask, distance, 0.0).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return per_volume.mean()
