"""Joint 2D/3D pre-training (AAAI 2023): intra/inter contrastive clustering and masked slice prediction.

One backbone pass embeds every slice of both views. Its pooled layer4 feeds
the 2D branch (a SwAV head, L2 -> prototype scores; slice i of view s pairs
with slice i of view t). The five pooled levels, each L2-normalised and
concatenated, are the slice embeddings Y: f_inter turns them into tokens whose
mean, L2-normalised, is the volume embedding Z of the 3D clustering. For the
masked prediction a [MASK] vector replaces ~10 % of Y's slices (the same for
both views), f_inter and a linear decoder predict them back, scored at the
masked slices only. Stop-gradients: codes and cluster targets; Y as input and
target of the masked prediction (f_intra is not among its variables, Eq. 15).
Which objectives run is the ``stage`` argument (stages.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ctssl.methods.joint2d3d.deepcluster import EmbeddingBank
from ctssl.methods.joint2d3d.defaults import JointOptions
from ctssl.methods.joint2d3d.losses import deepcluster_loss, masked_embedding_loss, swav_loss
from ctssl.methods.joint2d3d.stages import CLUSTER_2D, CLUSTER_3D, JOINT, MASK
from ctssl.models.hybrid import HybridEncoder
from ctssl.models.resnet2d import embedding_width, level_widths, slice_embedding

TERMS = ("cluster_2d", "cluster_3d", "mask")  # the order of JointOptions.loss_weights


def hybrid_kwargs(options: JointOptions) -> dict[str, Any]:
    """HybridEncoder's arguments: what the hybrid export's description names."""
    names = (
        *("backbone", "levels", "d_model", "ffn", "layers", "heads", "groups", "reduction"),
        *("offset_kernel", "offset_range", "max_slices", "dropout"),
    )
    return {name: getattr(options, name) for name in names}


def swav_head(in_features: int, hidden: int, out: int) -> nn.Sequential:
    """SwAV's projection head: Linear, BN, ReLU, Linear (its output is L2-normalised by the caller)."""
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out)
    )


def prototype_heads(dim: int, counts: tuple[int, ...]) -> nn.ModuleList:
    """One bias-free linear map per clustering: its weight rows are the prototypes (unit rows, see training.py)."""
    return nn.ModuleList(nn.Linear(dim, count, bias=False) for count in counts)


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """No gradient and batch norm in eval mode (its running statistics stay), restored afterwards."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


class Joint2D3D(nn.Module):
    """forward(views (B, 2, n, 1, V, V), mask (B, n) bool, stage) -> loss terms."""

    def __init__(self, options: JointOptions) -> None:
        super().__init__()
        self.options = options
        self.encoder = HybridEncoder(**hybrid_kwargs(options))
        width = embedding_width(options.backbone, options.levels)
        hidden, out = options.head_2d
        self.head_2d = swav_head(level_widths(options.backbone)[-1], hidden, out)
        swav = options.clustering == "swav"
        self.prototypes_2d = prototype_heads(out, (options.prototypes_2d,) if swav else options.dc_heads_2d)
        self.prototypes_3d = prototype_heads(options.d_model, (options.prototypes_3d,) if swav else options.dc_heads_3d)
        self.mask_token = nn.Parameter(nn.init.trunc_normal_(torch.empty(width), std=0.02))
        self.decoder = nn.Linear(options.d_model, width)  # Eq. 14: back into the input embedding space
        # Zero start: predictions start at 0, so L_mask starts at |Y_i| (sqrt 5: five unit-norm levels), O(1) like
        # the clustering terms; a random map of layer-normed tokens would start it near 36 at width 640 -> 3904.
        nn.init.zeros_(self.decoder.weight)
        nn.init.zeros_(self.decoder.bias)
        self.banks = nn.ModuleDict()
        if not swav:
            self.banks.update(
                {"2d": EmbeddingBank(options.dc_bank, out), "3d": EmbeddingBank(options.dc_bank, options.d_model)}
            )

    def prototype_parameters(self) -> list[nn.Parameter]:
        return [head.weight for head in (*self.prototypes_2d, *self.prototypes_3d)]

    def forward(self, views: torch.Tensor, mask: torch.Tensor, stage: int) -> dict[str, torch.Tensor]:
        shape = views.shape[:3]  # (B, 2, n)
        levels = self._levels(views, stage)
        terms: dict[str, torch.Tensor] = {}
        if stage in (CLUSTER_2D, JOINT):
            terms["cluster_2d"] = self._cluster_2d(levels[-1].view(*shape, -1))
        if stage in (MASK, CLUSTER_3D, JOINT):
            embeddings = slice_embedding(levels, self.options.levels).view(*shape, -1)
            if stage in (CLUSTER_3D, JOINT):
                terms["cluster_3d"] = self._cluster_3d(embeddings)
            if stage in (MASK, JOINT):
                terms["mask"] = self._masked_prediction(embeddings.detach(), mask)
        weights = dict(zip(TERMS, self.options.loss_weights, strict=True)) if stage == JOINT else {}
        terms["loss"] = sum((weights.get(name, 1.0) * term for name, term in terms.items()), start=views.new_zeros(()))
        terms["stage"] = views.new_tensor(float(stage))
        return terms

    def _levels(self, views: torch.Tensor, stage: int) -> list[torch.Tensor]:
        """The backbone's pooled levels of every slice (B * 2 * n, C_l); f_intra frozen in the mask stage."""
        images = views.flatten(0, 2)
        if stage != MASK:
            return self.encoder.slice_levels(images)
        with _frozen(self.encoder.intra):
            return self.encoder.slice_levels(images)

    def _cluster_2d(self, pooled: torch.Tensor) -> torch.Tensor:
        """Eq. 1-5 on slice pairs: slice i of view s with slice i of view t."""
        z = F.normalize(self.head_2d(pooled.flatten(0, 2)).float(), dim=1).view(*pooled.shape[:3], -1)
        return self._clustering(z[:, 0].flatten(0, 1), z[:, 1].flatten(0, 1), self.prototypes_2d, "2d")

    def _cluster_3d(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Eq. 10-12: Z = L2(mean over slices of f_inter(Y)) per view."""
        tokens = self.encoder.inter(embeddings.flatten(0, 1))
        volumes = F.normalize(tokens.float().mean(dim=1), dim=1).view(*embeddings.shape[:2], -1)
        return self._clustering(volumes[:, 0], volumes[:, 1], self.prototypes_3d, "3d")

    def _clustering(self, z_s: torch.Tensor, z_t: torch.Tensor, heads: nn.ModuleList, kind: str) -> torch.Tensor:
        options = self.options
        if options.clustering == "swav":
            return swav_loss(
                heads[0](z_s), heads[0](z_t), options.temperature, options.epsilon, options.sinkhorn_iterations
            )
        bank = self.banks[kind]
        assert isinstance(bank, EmbeddingBank)
        if self.training:
            bank.push(torch.cat([z_s, z_t]))
        if not int(bank.clusterings):  # no centroids yet, no targets: a zero that keeps the graph whole
            return 0.0 * (z_s.sum() + z_t.sum() + torch.stack([p.sum() for p in heads.parameters()]).sum())
        losses = [deepcluster_loss(head(z_s), head(z_t), options.temperature) for head in heads]
        return torch.stack(losses).mean()

    def _masked_prediction(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Eq. 13-15 on both views: masked slices replaced by [MASK], predicted back by f_inter + decoder."""
        hidden = torch.where(mask[:, None, :, None], self.mask_token.to(embeddings.dtype), embeddings)
        predicted = self.decoder(self.encoder.inter(hidden.flatten(0, 1)))
        return masked_embedding_loss(embeddings.flatten(0, 1), predicted, mask.repeat_interleave(2, dim=0))
