"""PCRLv2: multi-scale pixel restoration and feature comparison on an nsUNet (TPAMI 2023, section 3).

Each step uses one pyramid scale, drawn at random (the same on every rank).
At that scale: a restoration head (Conv-BN-ReLU then Conv, Eq. 2) whose
output is resized to the view, passed through a sigmoid and compared with the
uncorrupted view by MSE (Eq. 4), and a comparison head (GAP -> BN -> predictor FC-BN-ReLU-FC, Eq.
5-6) trained SimSiam-style with stop-gradient (Eq. 9). The objective is Eq.
10: R(g1, g2) + C(g1, g2) + sum over both globals and every local view of
C(l_k, g_m).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ctssl.methods.pcrlv2.losses import comparison_loss, restoration_loss
from ctssl.models.nsunet import NonSkipUNet, conv_bn_relu


def restoration_head(channels: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(channels, channels), nn.Conv3d(channels, 1, 3, padding=1))


def predictor(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(channels, channels, bias=False),
        nn.BatchNorm1d(channels),
        nn.ReLU(inplace=True),
        nn.Linear(channels, channels),
    )


class PCRLv2(nn.Module):
    """forward(global_inputs (B, 2, 1, *g), global_targets, local_inputs (B, L, 1, *l), scale) -> loss terms."""

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        self.network = NonSkipUNet(widths)
        channels = [self.network.scale_channels(scale) for scale in range(NonSkipUNet.SCALES)]
        self.restore = nn.ModuleList(restoration_head(c) for c in channels)
        self.compare_norm = nn.ModuleList(nn.BatchNorm1d(c) for c in channels)
        self.predict = nn.ModuleList(predictor(c) for c in channels)

    @property
    def encoder(self) -> nn.Module:
        """The U-Net encoder being pre-trained."""
        return self.network.encoder

    def forward(
        self, global_inputs: torch.Tensor, global_targets: torch.Tensor, local_inputs: torch.Tensor, scale: int
    ) -> dict[str, torch.Tensor]:
        batch = global_inputs.shape[0]
        globals_ = torch.cat([global_inputs[:, 0], global_inputs[:, 1]])  # both views in one pass: BN sees 2B
        features = self.network(globals_, scale)
        # Targets are windowed to [0, 1]; a sigmoid keeps the restored view there (as in 3D U-Nets for
        # restoration), and a coarse-scale head trained one step in five cannot blow the MSE up.
        restored = torch.sigmoid(
            F.interpolate(
                self.restore[scale](features).float(), size=globals_.shape[2:], mode="trilinear", align_corners=False
            )
        )
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

    def _compare(self, features: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 5-6: v = BN(GAP(features)), p = predictor(v)."""
        vectors = self.compare_norm[scale](features.float().mean(dim=(2, 3, 4)))
        return vectors, self.predict[scale](vectors).float()
