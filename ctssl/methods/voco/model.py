"""VoCo: predict where random crops sit by their similarity to base crops (CVPR 2024, section 3).

Default: the paper's formulation. One network embeds base and random crops;
logits are the cosine similarities of random crops to the *detached* bases
(Eq. 1); loss = prediction loss (Eq. 3) + weight x base regularization (Eq. 5),
weight 1. It needs one network copy and one forward pass per step.

Option ``teacher_momentum``: the momentum-teacher variant of the released code.
An EMA copy of backbone + projector embeds every crop without gradient; the
intra-volume logits average student-randoms-vs-teacher-bases and
teacher-randoms-vs-student-bases, and an inter-volume term asks the student's
similarities of one volume's random crops to *another* volume's bases to match
the teacher's (the papers give no formula for it; this is our reading). It
costs a second network copy and a no-grad forward, so it is off by default.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn

from ctssl.methods.voco.defaults import VoCoOptions
from ctssl.methods.voco.losses import cosine_logits, voco_logits, voco_prediction_loss, voco_regularization_loss
from ctssl.models.swin import SwinEmbedder


def projector(in_features: int, dim: int) -> nn.Sequential:
    """Three linear layers with BN + ReLU between, to ``dim`` (2048 in VoCo, as in SimCLR/MoCo v3)."""
    return nn.Sequential(
        nn.Linear(in_features, dim, bias=False),
        nn.BatchNorm1d(dim),
        nn.ReLU(inplace=True),
        nn.Linear(dim, dim, bias=False),
        nn.BatchNorm1d(dim),
        nn.ReLU(inplace=True),
        nn.Linear(dim, dim),
    )


class VoCo(nn.Module):
    """forward(bases (B, n, 1, *s), randoms (B, k, 1, *s), labels (B, k, n)) -> loss terms."""

    def __init__(self, options: VoCoOptions) -> None:
        super().__init__()
        backbone = SwinEmbedder(options.feature_size, options.use_v2, options.window_size)
        self.student = nn.Sequential(backbone, projector(backbone.out_features, options.projection_dim))
        self.projection_dim = options.projection_dim
        self.regularization_weight = options.regularization_weight
        self.teacher_momentum = options.teacher_momentum
        self.teacher: nn.Sequential | None = None
        if options.teacher_momentum is not None:
            self.teacher = copy.deepcopy(self.student).requires_grad_(False)

    @property
    def encoder(self) -> nn.Module:
        """The SwinUNETR encoder being pre-trained."""
        return cast(SwinEmbedder, self.student[0]).swinViT

    def forward(self, bases: torch.Tensor, randoms: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        count = bases.shape[1]
        student = self._embed(self.student, bases, randoms)
        if self.teacher is None:
            return self._paper_losses(student[:, :count], student[:, count:], labels)
        with torch.no_grad():
            teacher = self._embed(self.teacher, bases, randoms)
        return self._teacher_losses(student, teacher, count, labels)

    def _embed(self, network: nn.Sequential, bases: torch.Tensor, randoms: torch.Tensor) -> torch.Tensor:
        """(B, n + k, projection_dim) in fp32. One backbone pass over all crops (Swin has no batch
        statistics), but the projector's batch norm runs on bases and random crops apart: shared
        statistics would carry gradient from the random crops' loss back into the detached bases.
        """
        batch, count = bases.shape[:2]
        features = network[0](torch.cat([bases, randoms], dim=1).flatten(0, 1)).view(batch, -1, network[0].out_features)
        projector = network[1]
        embedded_bases = projector(features[:, :count].flatten(0, 1)).view(batch, count, -1)
        embedded_randoms = projector(features[:, count:].flatten(0, 1)).view(batch, randoms.shape[1], -1)
        return torch.cat([embedded_bases, embedded_randoms], dim=1).float()

    def _paper_losses(
        self, bases: torch.Tensor, randoms: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        per_volume = zip(randoms, bases, labels, strict=True)
        prediction = torch.stack([voco_prediction_loss(voco_logits(r, b), y) for r, b, y in per_volume])
        regularization = torch.stack([voco_regularization_loss(b) for b in bases])
        return self._total(prediction.mean(), regularization.mean())

    def _teacher_losses(
        self, student: torch.Tensor, teacher: torch.Tensor, count: int, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        s_bases, s_randoms = student[:, :count], student[:, count:]
        t_bases, t_randoms = teacher[:, :count], teacher[:, count:]
        intra, inter = [], []
        for a in range(student.shape[0]):
            logits = 0.5 * (cosine_logits(s_randoms[a], t_bases[a]) + cosine_logits(t_randoms[a], s_bases[a]))
            intra.append(voco_prediction_loss(logits, labels[a]))
            for b in range(student.shape[0]):
                if b != a:
                    target = cosine_logits(t_randoms[a], t_bases[b])
                    inter.append(voco_prediction_loss(cosine_logits(s_randoms[a], t_bases[b]), target))
        regularization = torch.stack([voco_regularization_loss(b) for b in s_bases]).mean()
        terms = self._total(torch.stack(intra).mean(), regularization)
        terms["inter"] = torch.stack(inter).mean() if inter else regularization * 0.0
        terms["loss"] = terms["loss"] + terms["inter"]
        return terms

    def _total(self, prediction: torch.Tensor, regularization: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = prediction + self.regularization_weight * regularization
        return {"loss": loss, "prediction": prediction, "regularization": regularization}

    @torch.no_grad()
    def update_teacher(self) -> None:
        """teacher <- m * teacher + (1 - m) * student, after each optimizer step; BN statistics copied."""
        if self.teacher is None or self.teacher_momentum is None:
            return
        momentum = self.teacher_momentum
        for held, learned in zip(self.teacher.parameters(), self.student.parameters(), strict=True):
            held.mul_(momentum).add_(learned.detach(), alpha=1.0 - momentum)
        for statistic, current in zip(self.teacher.buffers(), self.student.buffers(), strict=True):
            statistic.copy_(current)
