"""The backbones: SwinUNETR's encoder path pooled into one embedding, and the non-skip U-Net pyramid."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import SwinUNETR

from ctssl.models.nsunet import NonSkipUNet
from ctssl.models.swin import ENCODER_BLOCKS, SwinEmbedder


def test_swin_embedding_pools_swinunetrs_own_encoder_blocks():
    """Against MONAI's SwinUNETR itself, holding the embedder's weights: the outputs of its encoder1, 2, 3, 4 and
    10 blocks in its own forward, average-pooled and concatenated in that order (24 x feature_size)."""
    torch.manual_seed(0)
    embedder = SwinEmbedder(feature_size=12, use_v2=True, window_size=4)
    unetr = SwinUNETR(in_channels=1, out_channels=2, feature_size=12, use_v2=True, window_size=4)
    assert unetr.load_state_dict(embedder.state_dict(), strict=False).unexpected_keys == []
    pooled: dict[str, torch.Tensor] = {}
    for name in ENCODER_BLOCKS:
        getattr(unetr, name).register_forward_hook(
            lambda module, args, out, name=name: pooled.__setitem__(name, out.mean(dim=(2, 3, 4)))
        )
    crops = torch.rand(2, 1, 32, 32, 64)
    unetr(crops)
    expected = torch.cat([pooled[name] for name in ENCODER_BLOCKS], dim=1)
    torch.testing.assert_close(embedder(crops), expected)
    assert expected.shape == (2, 12 * 24)
    with pytest.raises(ValueError, match="multiples of 32"):
        embedder(torch.rand(1, 1, 32, 32, 48))
    with pytest.raises(ValueError, match="one of 64"):  # the bottleneck block would normalise over one voxel
        embedder(torch.rand(1, 1, 32, 32, 32))


def test_nsunet_pyramid_runs_from_one_sixteenth_to_full_resolution():
    network = NonSkipUNet((8, 16, 32, 64, 128))
    volumes = torch.rand(2, 1, 64, 64, 32)
    shapes = [tuple(network(volumes, scale).shape) for scale in range(NonSkipUNet.SCALES)]
    assert shapes == [(2, 128, 4, 4, 2), (2, 64, 8, 8, 4), (2, 32, 16, 16, 8), (2, 16, 32, 32, 16), (2, 8, 64, 64, 32)]
    # No skip connections: each decoder level takes only the previous level's channels, nothing concatenated.
    first_convs = [level[1][0] for level in network.decoder]
    assert [conv.in_channels for conv in first_convs] == [128, 64, 32, 16]
    with pytest.raises(ValueError, match="multiples of 16"):
        network(torch.rand(1, 1, 24, 32, 32), 0)
