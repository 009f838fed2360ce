"""The 2D backbones: torchvision's ResNet-50 names and shapes without torchvision, and their pooled levels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.networks.nets import ResNet

from ctssl.models.resnet2d import (
    backbone_kwargs,
    embedding_width,
    level_widths,
    pooled_levels,
    resnet2d,
    slice_embedding,
)

TORCHVISION_KEYS = Path(__file__).resolve().parents[1] / "data" / "torchvision_resnet50_keys.json"


def _torchvision_resnet50() -> dict[str, tuple[int, ...]]:
    """Every state-dict key of torchvision.models.resnet50() with its shape (torchvision 0.28)."""
    return {key: tuple(shape) for key, shape in json.loads(TORCHVISION_KEYS.read_text())}


def test_resnet50_has_torchvisions_keys_and_shapes_but_the_classifier():
    expected = {key: shape for key, shape in _torchvision_resnet50().items() if not key.startswith("fc.")}
    weights = resnet2d("resnet50").state_dict()
    assert {key: tuple(value.shape) for key, value in weights.items()} == expected
    assert len(weights) == 318


def test_with_a_classifier_monai_builds_exactly_torchvisions_resnet50():
    network = ResNet(**backbone_kwargs("resnet50"), num_classes=1000)
    assert {key: tuple(value.shape) for key, value in network.state_dict().items()} == _torchvision_resnet50()


def test_level_widths_and_embedding_widths():
    assert level_widths("resnet50") == (64, 256, 512, 1024, 2048)
    assert embedding_width("resnet50", "all5") == 3904 and embedding_width("resnet50", "last") == 2048
    assert level_widths("tiny") == (8, 8, 16, 32, 64) and embedding_width("tiny", "all5") == 128
    with pytest.raises(ValueError, match="resnet50, tiny"):
        level_widths("resnet18")


def test_every_level_of_a_slice_embedding_has_unit_norm():
    torch.manual_seed(0)
    backbone = resnet2d("tiny")
    levels = pooled_levels(backbone, torch.rand(3, 3, 32, 32))
    assert [tuple(level.shape) for level in levels] == [(3, width) for width in level_widths("tiny")]
    embedding = slice_embedding(levels, "all5")
    start = 0
    for width in level_widths("tiny"):
        torch.testing.assert_close(embedding[:, start : start + width].norm(dim=1), torch.ones(3))
        start += width
    torch.testing.assert_close(slice_embedding(levels, "last"), embedding[:, -64:])


def test_the_last_level_is_what_the_backbone_pools():
    torch.manual_seed(0)
    backbone = resnet2d("tiny").eval()
    images = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(pooled_levels(backbone, images)[-1], backbone(images))
