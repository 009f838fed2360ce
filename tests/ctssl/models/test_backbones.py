"""The backbones: MONAI's Swin encoder pooled into one embedding, and the non-skip U-Net pyramid."""

from __future__ import annotations

import pytest
import torch

from ctssl.models.nsunet import NonSkipUNet
from ctssl.models.swin import SwinEmbedder


def test_swin_embedding_pools_all_five_hidden_states():
    embedder = SwinEmbedder(feature_size=12, use_v2=False, window_size=4)
    assert embedder(torch.rand(2, 1, 32, 32, 64)).shape == (2, 12 * (1 + 2 + 4 + 8 + 16))
    with pytest.raises(ValueError, match="multiples of 32"):
        embedder(torch.rand(1, 1, 32, 32, 48))


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
