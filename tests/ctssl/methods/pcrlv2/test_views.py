"""PCRLv2's views: corruption of the input, not of the restoration target; global and local views from a batch."""

from __future__ import annotations

import torch

from ctssl.augment import apply_spatial, draw_spatial
from ctssl.data import RegionDataset
from ctssl.methods.pcrlv2.views import SPATIAL, pcrlv2_pair, pcrlv2_views
from ctssl.samplers import SubCropSampler
from tests.ctssl.conftest import SHAPES


def test_pixel_corruption_changes_the_input_not_the_target():
    views = torch.rand(4, 1, 16, 16, 16)
    corrupted, target = pcrlv2_pair(views, torch.Generator().manual_seed(3))
    expected = apply_spatial(views, draw_spatial(torch.Generator().manual_seed(3), 4, SPATIAL))
    torch.testing.assert_close(target, expected)
    assert (corrupted - target).abs().mean() > 1e-3
    again, _ = pcrlv2_pair(views, torch.Generator().manual_seed(3))
    torch.testing.assert_close(corrupted, again)


def test_batches_become_pcrlv2_views_on_the_device(small_corpus):
    url, _ = small_corpus
    dataset = RegionDataset(url, SubCropSampler(local_views=6), max_draws=1)
    views = pcrlv2_views(dataset.collate(list(dataset)), torch.Generator().manual_seed(0))
    assert tuple(views.global_inputs.shape) == (len(SHAPES), 2, 1, 64, 64, 32)
    assert tuple(views.global_targets.shape) == (len(SHAPES), 2, 1, 64, 64, 32)
    assert tuple(views.local_inputs.shape) == (len(SHAPES), 6, 1, 16, 16, 16)
