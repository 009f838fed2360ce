"""PCRLv2's views: the restoration target is the view before corruption; the network's input is corrupted and
z-normalized per view, as the released code does; global and local views from a batch."""

from __future__ import annotations

import torch

from ctssl.augment import apply_spatial, draw_spatial
from ctssl.data import RegionDataset
from ctssl.methods.pcrlv2.views import GLOBAL_CORRUPTION, SPATIAL, pcrlv2_pair, pcrlv2_views
from ctssl.samplers import SubCropSampler
from tests.ctssl.conftest import SHAPES


def test_corruption_changes_the_input_not_the_target_and_the_input_is_z_normalized():
    views = torch.rand(4, 1, 16, 16, 16)
    inputs, target = pcrlv2_pair(views, torch.Generator().manual_seed(3), GLOBAL_CORRUPTION)
    expected = apply_spatial(views, draw_spatial(torch.Generator().manual_seed(3), 4, SPATIAL))
    torch.testing.assert_close(target, expected)
    assert float(target.min()) >= 0.0 and float(target.max()) <= 1.0
    torch.testing.assert_close(inputs.mean(dim=(1, 2, 3, 4)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(inputs.std(dim=(1, 2, 3, 4)), torch.ones(4), atol=1e-5, rtol=0)
    again, _ = pcrlv2_pair(views, torch.Generator().manual_seed(3), GLOBAL_CORRUPTION)
    torch.testing.assert_close(inputs, again)


def test_batches_become_pcrlv2_views_on_the_device(small_corpus):
    url, _ = small_corpus
    dataset = RegionDataset(url, SubCropSampler(local_views=6), max_draws=1)
    views = pcrlv2_views(dataset.collate(list(dataset)), torch.Generator().manual_seed(0))
    assert tuple(views.global_inputs.shape) == (len(SHAPES), 2, 1, 64, 64, 32)
    assert tuple(views.global_targets.shape) == (len(SHAPES), 2, 1, 64, 64, 32)
    assert tuple(views.local_inputs.shape) == (len(SHAPES), 6, 1, 16, 16, 16)
    for inputs in (views.global_inputs, views.local_inputs):
        torch.testing.assert_close(inputs.mean(dim=(2, 3, 4, 5)), torch.zeros(inputs.shape[:2]), atol=1e-4, rtol=0)
