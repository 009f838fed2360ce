"""PCRLv2's non-skip U-Net: a 3D U-Net encoder and a decoder without skip connections.

The encoder is MONAI's BasicUNet encoder (``conv_0``, ``down_1`` .. ``down_4``:
two 3x3x3 Conv-BN-ReLU per level, max-pooling between), taken from a BasicUNet
instance so exported weights load into ``BasicUNet(features=(*widths, widths[0]),
norm="batch", act="relu")``. Each decoder level is Eq. 1 of the paper:
Conv-BN-ReLU(Conv-BN-ReLU(Up(previous))).

The feature pyramid has five scales, coarse to fine: the bottleneck (1/16) and
the four decoder levels (1/8, 1/4, 1/2, 1/1). The paper's 2D pyramid starts at
1/32; in 3D a 16^3 local view cannot be halved five times, so the coarsest
scale here is 1/16.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

ENCODER_BLOCKS = ("conv_0", "down_1", "down_2", "down_3", "down_4")


def conv_bn_relu(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm3d(channels_out),
        nn.ReLU(inplace=True),
    )


def unet_encoder(widths: Sequence[int], in_channels: int = 1) -> nn.Sequential:
    """BasicUNet's five encoder blocks, names kept, as one Sequential."""
    from monai.networks.nets import BasicUNet

    if len(widths) != len(ENCODER_BLOCKS):
        raise ValueError(f"nsUNet needs {len(ENCODER_BLOCKS)} encoder widths, got {tuple(widths)}")
    unet = BasicUNet(
        spatial_dims=3, in_channels=in_channels, out_channels=1, features=(*widths, widths[0]), norm="batch", act="relu"
    )
    return nn.Sequential(OrderedDict((name, getattr(unet, name)) for name in ENCODER_BLOCKS))


class NonSkipUNet(nn.Module):
    """forward(x, scale) -> the pyramid feature map at ``scale`` (0 = bottleneck .. 4 = full resolution);
    pyramid(x) -> every scale's map.

    Only the decoder levels up to ``scale`` run, so coarse scales cost less.
    """

    SCALES = len(ENCODER_BLOCKS)

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.encoder = unet_encoder(self.widths)
        coarse_to_fine = self.widths[::-1]
        self.decoder = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                conv_bn_relu(channels_in, channels_out),
                conv_bn_relu(channels_out, channels_out),
            )
            for channels_in, channels_out in itertools.pairwise(coarse_to_fine)
        )

    def scale_channels(self, scale: int) -> int:
        return self.widths[::-1][scale]

    def forward(self, volumes: torch.Tensor, scale: int) -> torch.Tensor:
        return self.pyramid(volumes, scale)[-1]

    def pyramid(self, volumes: torch.Tensor, scale: int = SCALES - 1) -> list[torch.Tensor]:
        """The feature maps of scales 0 .. ``scale``, coarse to fine."""
        if any(side % 16 for side in volumes.shape[2:]):
            raise ValueError(f"nsUNet inputs need sides that are multiples of 16, got {tuple(volumes.shape[2:])}")
        maps = [self.encoder(volumes)]
        for level in self.decoder[:scale]:
            maps.append(level(maps[-1]))
        return maps
