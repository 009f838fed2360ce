"""DeepCluster-v2 for an endless, resumable stream: a memory bank of recent embeddings and k-means on it.

DeepCluster-v2 clusters the embeddings of the whole data set once per epoch;
a step-based stream has neither epochs nor sample indices. Instead every step
pushes its (detached, all-processes) embeddings into a ring buffer, and every
few steps spherical k-means on the buffer overwrites the prototypes. The
buffer is a model buffer (checkpointed, identical on every process) and
k-means starts from entries drawn by a generator seeded with the step, so a
resumed or distributed run clusters exactly as a straight single one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ctssl.distributed import gather_rows


class EmbeddingBank(nn.Module):
    """The newest ``size`` rows pushed, oldest first once full."""

    entries: torch.Tensor
    pushed: torch.Tensor
    clusterings: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("entries", torch.zeros(size, dim))
        self.register_buffer("pushed", torch.zeros((), dtype=torch.long))
        self.register_buffer("clusterings", torch.zeros((), dtype=torch.long))  # k-means runs so far

    @torch.no_grad()
    def push(self, rows: torch.Tensor) -> None:
        """Add every process's ``rows`` (in rank order), dropping the oldest beyond the bank's size."""
        rows = gather_rows(rows.detach().float())[-self.entries.shape[0] :]
        size, start = self.entries.shape[0], int(self.pushed) % self.entries.shape[0]
        positions = (torch.arange(rows.shape[0], device=rows.device) + start) % size
        self.entries[positions] = rows.to(self.entries)
        self.pushed += rows.shape[0]

    def held(self) -> torch.Tensor:
        """The rows held, oldest first."""
        size, count = self.entries.shape[0], int(self.pushed)
        if count <= size:
            return self.entries[:count]
        return self.entries.roll(-(count % size), dims=0)


@torch.no_grad()
def spherical_kmeans(points: torch.Tensor, clusters: int, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """(clusters, D) unit centroids of unit ``points`` (M, D) under cosine similarity; M >= clusters.

    Starts from distinct points drawn by ``generator``; a cluster left empty keeps its centroid.
    """
    points = F.normalize(points.float(), dim=1)
    chosen = torch.randperm(points.shape[0], generator=generator)[:clusters].to(points.device)
    centroids = points[chosen].clone()
    for _ in range(iterations):
        nearest = (points @ centroids.T).argmax(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, nearest, points)
        filled = torch.bincount(nearest, minlength=clusters) > 0
        centroids = torch.where(filled[:, None], F.normalize(sums, dim=1), centroids)
    return centroids


@torch.no_grad()
def recluster(bank: EmbeddingBank, heads: nn.ModuleList, step: int, iterations: int = 10) -> bool:
    """Overwrite each head's prototypes with k-means centroids of the bank; False while it holds too few rows."""
    points = bank.held()
    linears = [head for head in heads if isinstance(head, nn.Linear)]
    if points.shape[0] < max(head.out_features for head in linears):
        return False
    for index, head in enumerate(linears):
        generator = torch.Generator().manual_seed(step * 1009 + index)  # the same start on every process
        head.weight.copy_(spherical_kmeans(points, head.out_features, iterations, generator))
    bank.clusterings += 1
    return True
