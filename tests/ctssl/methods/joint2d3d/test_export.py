"""Joint 2D/3D exports load into their consumers: a standard 2D ResNet-50, and the hybrid encoder for 3D tasks."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import import_module

import pytest
import torch
from monai.networks.nets import ResNet

from ctssl.export import write_export
from ctssl.methods import joint2d3d
from ctssl.methods.joint2d3d.model import Joint2D3D
from ctssl.models.hybrid import HybridClassifier, HybridEncoder
from tests.ctssl.models.test_resnet2d import _torchvision_resnet50

METHOD = joint2d3d.METHOD


def _trained_looking(options) -> Joint2D3D:
    """A model whose weights and batch statistics differ from a fresh one's."""
    torch.manual_seed(0)
    model = Joint2D3D(options)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if "running_var" in name:
                value.uniform_(0.5, 2.0)
            elif value.is_floating_point():
                value.add_(0.01 * torch.randn_like(value))
    return model


@pytest.fixture(scope="module")
def paper_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    model = _trained_looking(METHOD.paper)
    write_export(METHOD, model, METHOD.paper, folder, step=11)
    return model.eval(), folder


def test_the_backbone_has_every_torchvision_resnet50_key_but_the_classifier(paper_export):
    _, folder = paper_export
    weights = torch.load(folder / "encoder.pt", weights_only=True)
    expected = {key: shape for key, shape in _torchvision_resnet50().items() if not key.startswith("fc.")}
    assert {key: tuple(value.shape) for key, value in weights.items()} == expected
    description = json.loads((folder / "encoder.json").read_text())
    assert description["target"]["class"] == "torchvision.models.resnet50" and description["step"] == 11
    assert description["keys"] == 318


def test_a_resnet50_built_as_torchvisions_loads_it_strictly_and_computes_the_same(paper_export):
    model, folder = paper_export
    weights = torch.load(folder / "encoder.pt", weights_only=True)
    monai = json.loads((folder / "encoder.json").read_text())["target"]["monai"]
    fresh = ResNet(**monai["kwargs"]).eval()
    fresh.load_state_dict(weights)  # strict
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fresh(images), model.encoder.intra(images))
    with_classifier = ResNet(**(monai["kwargs"] | {"feed_forward": True, "num_classes": 1000}))
    result = with_classifier.load_state_dict(weights, strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"] and result.unexpected_keys == []


def test_torchvision_loads_it_where_torchvision_is_installed(paper_export):
    models = pytest.importorskip("torchvision.models")
    _, folder = paper_export
    result = models.resnet50().load_state_dict(torch.load(folder / "encoder.pt", weights_only=True), strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"] and result.unexpected_keys == []


def test_the_hybrid_encoder_loads_strictly_from_its_description_and_runs_a_slice_stack(paper_export):
    model, folder = paper_export
    description = json.loads((folder / "hybrid.json").read_text())
    assert json.loads((folder / "encoder.json").read_text())["also"]["hybrid"] == description
    target = description["target"]
    module, name = target["class"].rsplit(".", 1)
    encoder = getattr(import_module(module), name)(**target["kwargs"]).eval()
    encoder.load_state_dict(torch.load(folder / description["weights"], weights_only=True))  # strict
    slices = torch.rand(2, 8, 1, 64, 64)
    with torch.no_grad():
        pooled, tokens = encoder(slices)
        expected_pooled, expected_tokens = model.encoder(slices)
    assert tuple(tokens.shape) == (2, 8, 640)
    torch.testing.assert_close(tokens, expected_tokens, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(pooled, expected_pooled, atol=1e-6, rtol=1e-5)


def test_the_tiny_hybrid_export_trains_in_a_3d_classifier(tmp_path):
    model = _trained_looking(METHOD.tiny)
    write_export(METHOD, model, METHOD.tiny, tmp_path, step=1)
    target = json.loads((tmp_path / "hybrid.json").read_text())["target"]
    assert target["class"] == "ctssl.models.hybrid.HybridEncoder"
    assert json.loads((tmp_path / "encoder.json").read_text())["target"]["class"] == "monai.networks.nets.ResNet"
    encoder = HybridEncoder(**target["kwargs"])
    encoder.load_state_dict(torch.load(tmp_path / "hybrid.pt", weights_only=True))
    classifier = HybridClassifier(encoder, classes=2)
    optimizer = torch.optim.SGD(classifier.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(classifier(torch.rand(2, 8, 1, 32, 32)), torch.tensor([0, 1]))
    loss.backward()
    optimizer.step()
    assert classifier.encoder.inter.proj.weight.grad is not None


def test_a_2d_only_run_exports_the_backbone_alone(tmp_path):
    options = replace(METHOD.tiny, mode="2d")
    write_export(METHOD, _trained_looking(options), options, tmp_path, step=1)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["encoder.json", "encoder.pt"]
    assert "also" not in json.loads((tmp_path / "encoder.json").read_text())
