"""The hybrid encoder: slices through the 2D backbone, levels into f_inter, tokens and a volume feature."""

from __future__ import annotations

import torch

from ctssl.models.hybrid import HybridClassifier, HybridEncoder

TINY = {
    "backbone": "tiny",
    "levels": "all5",
    "d_model": 32,
    "ffn": 48,
    "layers": 2,
    "heads": 2,
    "groups": 2,
    "reduction": 2,
    "offset_kernel": 4,
    "offset_range": 4.0,
    "max_slices": 16,
    "dropout": 0.0,
}


def test_tokens_per_slice_and_their_mean_as_the_volume_feature():
    torch.manual_seed(0)
    encoder = HybridEncoder(**TINY).eval()
    slices = torch.rand(2, 6, 1, 32, 32)
    pooled, tokens = encoder(slices)
    assert tuple(tokens.shape) == (2, 6, 32) and tuple(pooled.shape) == (2, 32)
    torch.testing.assert_close(pooled, tokens.mean(dim=1))
    assert tuple(encoder.embed(slices).shape) == (2, 6, 128)


def test_the_slice_order_matters_through_the_positional_encoding():
    torch.manual_seed(0)
    encoder = HybridEncoder(**TINY).eval()
    slices = torch.rand(1, 4, 1, 32, 32)
    _, tokens = encoder(slices)
    _, reversed_tokens = encoder(slices.flip(1))
    assert not torch.allclose(tokens.flip(1), reversed_tokens, atol=1e-4)


def test_parameter_names_keep_the_backbone_apart():
    names = list(HybridEncoder(**TINY).state_dict())
    assert "intra.conv1.weight" in names and "inter.proj.weight" in names
    assert "inter.layers.1.attn.offset.3.weight" in names and "inter.layers.0.ffn.3.bias" in names


def test_the_classifier_trains_end_to_end():
    torch.manual_seed(0)
    classifier = HybridClassifier(HybridEncoder(**TINY), classes=3)
    logits = classifier(torch.rand(2, 4, 1, 32, 32))
    assert tuple(logits.shape) == (2, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    assert classifier.encoder.intra.conv1.weight.grad is not None
    assert classifier.encoder.inter.layers[0].attn.offset[3].weight.grad is not None
