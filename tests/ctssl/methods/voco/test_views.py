"""VoCo's views: its HU window, bases and random crops cut from a loader batch."""

from __future__ import annotations

import torch

from ctssl.data import RegionDataset
from ctssl.methods.voco.views import voco_views
from ctssl.samplers import VoCoSampler
from tests.ctssl.conftest import SHAPES


def test_batches_become_voco_views_on_the_device(small_corpus):
    url, _ = small_corpus
    dataset = RegionDataset(url, VoCoSampler(grid=(2, 2), base=(16, 16, 16), random_crops=4))
    batch = dataset.collate(list(dataset))
    views = voco_views(batch)
    assert tuple(views.bases.shape) == (len(SHAPES), 4, 1, 16, 16, 16)
    assert tuple(views.randoms.shape) == (len(SHAPES), 4, 1, 16, 16, 16)
    assert float(views.bases.min()) >= 0.0 and float(views.bases.max()) <= 1.0
    # base 0 is the region's first 16^3 corner, windowed to VoCo's -175..250 HU
    corner = batch["region"][:, :, :16, :16, :16].float()
    torch.testing.assert_close(views.bases[:, 0], ((corner + 175) / 425).clamp(0, 1), atol=1e-5, rtol=0)
