"""Exports that MONAI's fine-tuning networks load, key for key."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from monai.networks.nets import BasicUNet, SwinUNETR

from ctssl.export import write_export
from ctssl.methods import METHODS


def _exported(method: str, folder, step: int, options=None) -> tuple[torch.nn.Module, dict, dict]:
    """(trained model, the weights as a fine-tuning script loads them, encoder.json)."""
    torch.manual_seed(0)
    chosen = METHODS[method]
    options = options or chosen.recipe().tiny
    model = chosen.training().build(options)
    path = write_export(chosen, model, options, folder, step=step)
    return model, torch.load(path, weights_only=True), json.loads((folder / "encoder.json").read_text())


@pytest.mark.parametrize(("use_v2", "keys"), [(True, 145), (False, 137)])
def test_voco_export_fills_every_encoder_key_of_a_fresh_swinunetr(tmp_path, use_v2, keys):
    """swinViT.* and the encoder1/2/3/4/10 blocks, pre-trained (145 tensors for v2 and 137 for v1 at every feature
    size, the count of the released VoCo-B checkpoint); only the decoder and the output layer start fresh."""
    options = replace(METHODS["voco"].recipe().tiny, use_v2=use_v2)
    model, weights, description = _exported("voco", tmp_path, step=7, options=options)
    assert description["target"]["class"] == "monai.networks.nets.SwinUNETR" and description["step"] == 7
    fresh = SwinUNETR(out_channels=14, **description["target"]["kwargs"])
    result = fresh.load_state_dict(weights, strict=False)
    assert result.unexpected_keys == []
    assert {key.split(".")[0] for key in result.missing_keys} == {
        "decoder1",
        "decoder2",
        "decoder3",
        "decoder4",
        "decoder5",
        "out",
    }
    encoder = [key for key in fresh.state_dict() if key.startswith(("swinViT.", "encoder"))]
    assert sorted(weights) == sorted(encoder) and len(weights) == keys == description["keys"]
    for key in (
        "swinViT.patch_embed.proj.weight",
        "encoder1.layer.conv1.conv.weight",
        "encoder10.layer.conv2.conv.weight",
    ):
        torch.testing.assert_close(fresh.state_dict()[key], model.encoder.state_dict()[key])
    assert fresh(torch.rand(1, 1, 64, 64, 64)).shape == (1, 14, 64, 64, 64)


def test_pcrlv2_export_loads_into_a_fresh_basic_unet_with_every_encoder_key(tmp_path):
    model, weights, description = _exported("pcrlv2", tmp_path, step=3)
    assert description["target"]["class"] == "monai.networks.nets.BasicUNet"
    fresh = BasicUNet(out_channels=3, **description["target"]["kwargs"])
    result = fresh.load_state_dict(weights, strict=False)
    assert result.unexpected_keys == []
    encoder_keys = [
        key for key in fresh.state_dict() if key.split(".")[0] in ("conv_0", "down_1", "down_2", "down_3", "down_4")
    ]
    assert sorted(encoder_keys) == sorted(weights) and not set(encoder_keys) & set(result.missing_keys)
    key = "down_4.convs.conv_1.conv.weight"
    torch.testing.assert_close(fresh.state_dict()[key], model.encoder.state_dict()[key])
    assert fresh(torch.rand(1, 1, 32, 32, 32)).shape == (1, 3, 32, 32, 32)
