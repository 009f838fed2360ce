"""PCRLv2: multi-scale pixel restoration and feature comparison on an nsUNet.

Heads per pyramid scale: a restoration head Conv(Conv-BN-ReLU) (Eq. 2) whose
output is resized to the view and passed through a sigmoid (targets are in
[0, 1]), and a comparison head: v = BN(GAP(features)) (Eq. 5), p = predictor
FC-BN-ReLU-FC with a hidden width of twice the channels (Eq. 6; the width is
the release's), compared SimSiam-style with stop-gradient (Eq. 9).

Objective ``release`` (the default; RL4M/PCRLv2 train_3d.py): each global
view and the local views run through the whole pyramid, in separate passes;
C(g1, g2) at a scale k drawn for it, every C(g_m, l_i) at a scale of its own,
the 2L local-global terms averaged; restoration = MSE of a full-resolution
output head (1x1 conv + sigmoid) on the first view plus beta x the MSE of
the scale-k restoration head on it, where beta = (1 + cos(pi x progress)) / 2
fades from 1 to 0 over the run (the forward's ``deep_supervision_weight``,
training.py's before_forward). Objective ``eq10``: the paper's Eq. 10 literally, one scale for every
term of a step: R(g1, g2) + C(g1, g2) + sum over both globals and every local
view of C(l_k, g_m); only the decoder levels up to that scale run.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ctssl.methods.pcrlv2.defaults import OBJECTIVES, PCRLv2Options
from ctssl.methods.pcrlv2.losses import comparison_loss, restoration_loss
from ctssl.models.nsunet import NonSkipUNet, conv_bn_relu

Compared = tuple[torch.Tensor, torch.Tensor]  # (v, p) of one scale


def restoration_head(channels: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(channels, channels), nn.Conv3d(channels, 1, 3, padding=1))


def predictor(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(channels, 2 * channels),
        nn.BatchNorm1d(2 * channels),
        nn.ReLU(inplace=True),
        nn.Linear(2 * channels, channels),
    )


class PCRLv2(nn.Module):
    """forward(global_inputs (B, 2, 1, *g), global_targets, local_inputs (B, L, 1, *l), scales) -> loss terms.

    ``scales``: 1 + 2L pyramid scales drawn for the step (release: C(g1, g2) and the deep supervision take
    the first, C(g_m, l_i) the (1 + 2i + m)-th; eq10: every term takes the first). A fixed ``scale`` option
    replaces them all.
    """

    def __init__(self, options: PCRLv2Options) -> None:
        super().__init__()
        if options.objective not in OBJECTIVES:
            raise ValueError(f"PCRLv2 objective must be one of {', '.join(OBJECTIVES)}, got {options.objective!r}")
        self.objective, self.fixed_scale = options.objective, options.scale
        self.network = NonSkipUNet(options.widths)
        channels = [self.network.scale_channels(scale) for scale in range(NonSkipUNet.SCALES)]
        self.restore = nn.ModuleList(restoration_head(c) for c in channels)
        self.compare_norm = nn.ModuleList(nn.BatchNorm1d(c) for c in channels)
        self.predict = nn.ModuleList(predictor(c) for c in channels)
        if self.objective == "release":
            self.output = nn.Sequential(nn.Conv3d(channels[-1], 1, 1), nn.Sigmoid())

    @property
    def encoder(self) -> nn.Module:
        """The U-Net encoder being pre-trained."""
        return self.network.encoder

    def forward(
        self,
        global_inputs: torch.Tensor,
        global_targets: torch.Tensor,
        local_inputs: torch.Tensor,
        scales: Sequence[int],
        deep_supervision_weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        if self.fixed_scale is not None:
            scales = [self.fixed_scale] * len(scales)
        if self.objective == "eq10":
            return self._eq10(global_inputs, global_targets, local_inputs, scales[0])
        return self._release(global_inputs, global_targets, local_inputs, scales, deep_supervision_weight)

    def _release(
        self,
        global_inputs: torch.Tensor,
        global_targets: torch.Tensor,
        local_inputs: torch.Tensor,
        scales: Sequence[int],
        deep_supervision_weight: float,
    ) -> dict[str, torch.Tensor]:
        first = self.network.pyramid(global_inputs[:, 0])  # one pass per view: batch norm sees each alone
        views = (self._compare_all(first), self._compare_all(self.network.pyramid(global_inputs[:, 1])))
        local = self._compare_all(self.network.pyramid(local_inputs.flatten(0, 1)))
        k = scales[0]
        global_global = comparison_loss(views[0][k][0], views[1][k][0], views[0][k][1], views[1][k][1])
        local_global = self._local_global(views, local, scales[1:], local_inputs.shape[1])
        target = global_targets[:, 0]
        restoration = restoration_loss(self.output(first[-1]).float(), target)
        deep_supervision = restoration_loss(self._restored(first[k], k, target.shape[2:]), target)
        loss = restoration + deep_supervision_weight * deep_supervision + global_global + local_global
        return {
            "loss": loss,
            "restoration": restoration,
            "deep_supervision": deep_supervision,
            "global_global": global_global,
            "local_global": local_global,
        }

    @staticmethod
    def _local_global(
        views: Sequence[list[Compared]], local: list[Compared], scales: Sequence[int], local_count: int
    ) -> torch.Tensor:
        """The mean of C(g_m, l_i) over both globals m and the L local views i, each at its own scale (the
        release divides the sum of these 2L terms by 2L)."""
        terms = []
        for i in range(local_count):
            for m, view in enumerate(views):
                scale = scales[2 * i + m]
                vectors, predicted = (part.unflatten(0, (-1, local_count))[:, i] for part in local[scale])
                terms.append(comparison_loss(view[scale][0], vectors, view[scale][1], predicted))
        return torch.stack(terms).mean()

    def _eq10(
        self, global_inputs: torch.Tensor, global_targets: torch.Tensor, local_inputs: torch.Tensor, scale: int
    ) -> dict[str, torch.Tensor]:
        batch = global_inputs.shape[0]
        globals_ = torch.cat([global_inputs[:, 0], global_inputs[:, 1]])  # both views in one pass: BN sees 2B
        features = self.network(globals_, scale)
        restored = self._restored(features, scale, globals_.shape[2:])
        restoration = restoration_loss(restored[:batch], global_targets[:, 0]) + restoration_loss(
            restored[batch:], global_targets[:, 1]
        )
        g_features, g_predicted = self._compare(features, scale)
        g1, g2 = (g_features[:batch], g_predicted[:batch]), (g_features[batch:], g_predicted[batch:])
        global_global = comparison_loss(g1[0], g2[0], g1[1], g2[1])
        local_count = local_inputs.shape[1]
        l_features, l_predicted = self._compare(self.network(local_inputs.flatten(0, 1), scale), scale)
        l_features = l_features.view(batch, local_count, -1)
        l_predicted = l_predicted.view(batch, local_count, -1)
        local_global = sum(
            (
                comparison_loss(l_features[:, k], view[0], l_predicted[:, k], view[1])
                for view in (g1, g2)
                for k in range(local_count)
            ),
            start=torch.zeros((), device=global_inputs.device),
        )
        loss = restoration + global_global + local_global
        return {"loss": loss, "restoration": restoration, "global_global": global_global, "local_global": local_global}

    def _restored(self, features: torch.Tensor, scale: int, size: Sequence[int]) -> torch.Tensor:
        """The scale's restoration head, resized to the view, through a sigmoid: the targets are in [0, 1], and a
        coarse-scale head trained only now and then cannot blow the MSE up."""
        head = self.restore[scale](features).float()
        return torch.sigmoid(F.interpolate(head, size=tuple(size), mode="trilinear", align_corners=False))

    def _compare(self, features: torch.Tensor, scale: int) -> Compared:
        """Eq. 5-6: v = BN(GAP(features)), p = predictor(v)."""
        vectors = self.compare_norm[scale](features.float().mean(dim=(2, 3, 4)))
        return vectors, self.predict[scale](vectors).float()

    def _compare_all(self, pyramid: Sequence[torch.Tensor]) -> list[Compared]:
        return [self._compare(features, scale) for scale, features in enumerate(pyramid)]
