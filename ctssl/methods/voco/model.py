"""VoCo: predict where random crops sit by their similarity to base crops of the same region.

Both heads embed every crop with SwinUNETR's encoder path (ctssl.models.swin:
swinViT and the encoder1/2/3/4/10 blocks, pooled) and project it as both
releases do: Linear-BN-ReLU, Linear-BN-ReLU, Linear, with batch norms that
have no parameters and no running statistics (they always normalise with the
batch at hand).

Default, ``teacher_momentum`` set: the large-scale release's head
(Large-Scale-Medical, Self-supervised/models/voco_head.py). One backbone pass
over the bases and random crops of every volume; one projector pass over all
of them (its batch norm sees them together). The student projector sees the
embeddings with whole crops zeroed (the release's ``nn.Dropout1d`` on a
(crops, features) matrix drops rows, not features); the teacher projector, an
EMA of the student projector (momentum 0.9, updated before every step, from a
start of its own), sees them untouched and without gradient. The backbone is
shared. Loss = prediction + inter + weight x regularization (losses.py:
``teacher_head_losses``).

Option, ``teacher_momentum`` None: the paper's single network (CVPR 2024,
section 3): logits = cosine(random crop, detached base) (Eq. 1), prediction
loss (Eq. 3) + weight x base regularization (Eq. 5). Its projector normalises
bases and random crops apart: shared batch statistics would carry gradient
from the random crops' loss into the detached bases.
"""

from __future__ import annotations

import torch
from torch import nn

from ctssl.methods.voco.defaults import VoCoOptions
from ctssl.methods.voco.losses import (
    teacher_head_losses,
    voco_logits,
    voco_prediction_loss,
    voco_regularization_loss,
)
from ctssl.models.swin import SwinEmbedder


def projector(in_features: int, width: int) -> nn.Sequential:
    """The releases' projection head: BN without affine parameters or running statistics."""

    def norm() -> nn.BatchNorm1d:
        return nn.BatchNorm1d(width, affine=False, track_running_stats=False)

    return nn.Sequential(
        nn.Linear(in_features, width),
        norm(),
        nn.ReLU(inplace=True),
        nn.Linear(width, width),
        norm(),
        nn.ReLU(inplace=True),
        nn.Linear(width, width),
    )


class VoCo(nn.Module):
    """forward(bases (B, n, 1, *s), randoms (B, k, 1, *s), labels (B, k, n), kept (B * (n + k),)) -> loss terms.

    ``kept`` (teacher head only): per crop, bases then random crops of each volume, 0 for a crop the student
    sees zeroed and 1 / (1 - p) otherwise (views.py draws it from the step's generator).
    """

    def __init__(self, options: VoCoOptions) -> None:
        super().__init__()
        self.backbone = SwinEmbedder(options.feature_size, options.use_v2, options.window_size)
        self.student = projector(self.backbone.out_features, options.projection_dim)
        self.width = options.projection_dim
        self.regularization_weight = options.regularization_weight
        self.teacher_momentum = options.teacher_momentum
        self.teacher: nn.Sequential | None = None
        if options.teacher_momentum is not None:
            self.teacher = projector(self.backbone.out_features, options.projection_dim).requires_grad_(False)

    @property
    def encoder(self) -> nn.Module:
        """SwinUNETR's encoder being pre-trained: swinViT and the encoder1/2/3/4/10 blocks."""
        return self.backbone

    def forward(
        self, bases: torch.Tensor, randoms: torch.Tensor, labels: torch.Tensor, kept: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        batch, count = bases.shape[:2]
        features = self.backbone(torch.cat([bases, randoms], dim=1).flatten(0, 1))
        if self.teacher is None:
            return self._paper_losses(features.view(batch, -1, features.shape[1]), count, labels)
        if kept is None:
            raise ValueError("The teacher head needs `kept`, the student's per-crop dropout mask (voco_inputs)")
        student = self.student(features * kept[:, None].to(features)).float().view(batch, -1, self.width)
        with torch.no_grad():
            teacher = self.teacher(features).float().view(batch, -1, self.width)
        terms = teacher_head_losses(
            student[:, :count], student[:, count:], teacher[:, :count], teacher[:, count:], labels
        )
        loss = terms["prediction"] + terms["inter"] + self.regularization_weight * terms["regularization"]
        return {"loss": loss, **terms}

    def _paper_losses(self, features: torch.Tensor, count: int, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = features.shape[0]
        bases = self.student(features[:, :count].flatten(0, 1)).float().view(batch, count, self.width)
        randoms = self.student(features[:, count:].flatten(0, 1)).float().view(batch, -1, self.width)
        per_volume = zip(randoms, bases, labels, strict=True)
        prediction = torch.stack([voco_prediction_loss(voco_logits(r, b), y) for r, b, y in per_volume]).mean()
        regularization = torch.stack([voco_regularization_loss(b) for b in bases]).mean()
        loss = prediction + self.regularization_weight * regularization
        return {"loss": loss, "prediction": prediction, "regularization": regularization}

    @torch.no_grad()
    def update_teacher(self) -> None:
        """teacher projector <- m * teacher + (1 - m) * student projector; the release does it before each step."""
        if self.teacher is None or self.teacher_momentum is None:
            return
        momentum = self.teacher_momentum
        for held, learned in zip(self.teacher.parameters(), self.student.parameters(), strict=True):
            held.mul_(momentum).add_(learned.detach(), alpha=1.0 - momentum)
