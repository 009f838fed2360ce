"""Backbones, heads, stop-gradient inside the models, and exports that MONAI's networks load."""

from __future__ import annotations

import json

import pytest
import torch
from monai.networks.nets import BasicUNet, SwinUNETR

from ctssl.export import write_export
from ctssl.methods import METHODS, TINY
from ctssl.methods.pcrlv2 import PCRLv2
from ctssl.methods.voco import VoCo
from ctssl.models.nsunet import NonSkipUNet
from ctssl.models.swin import SwinEmbedder


def test_swin_embedding_pools_all_five_hidden_states():
    embedder = SwinEmbedder(feature_size=12, window_size=4)
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


def _voco_inputs(batch: int = 2, bases: int = 4, randoms: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "bases": torch.rand(batch, bases, 1, 32, 32, 32, generator=generator),
        "randoms": torch.rand(batch, randoms, 1, 32, 32, 32, generator=generator),
        "labels": torch.softmax(torch.rand(batch, randoms, bases, generator=generator), dim=-1),
    }


def test_voco_bases_get_gradient_only_through_the_regularization():
    """In training mode: the projector's batch norm must not carry gradient from random crops to bases."""
    torch.manual_seed(0)
    for weight, reaches_bases in ((0.0, False), (1.0, True)):
        model = VoCo(feature_size=12, window_size=4, projection_dim=32, regularization_weight=weight).train()
        inputs = _voco_inputs()
        inputs["bases"].requires_grad_(True)
        inputs["randoms"].requires_grad_(True)
        model(**inputs)["loss"].backward()
        assert inputs["randoms"].grad is not None and inputs["randoms"].grad.abs().sum() > 0
        assert inputs["bases"].grad is not None
        assert (inputs["bases"].grad.abs().sum() > 0) == reaches_bases


def test_voco_teacher_follows_the_student_by_ema_and_the_student_learns_through_both_logit_terms():
    torch.manual_seed(0)
    model = VoCo(feature_size=12, window_size=4, projection_dim=32, teacher_momentum=0.9)
    assert model.teacher is not None
    terms = model(**_voco_inputs())
    assert set(terms) == {"loss", "prediction", "regularization", "inter"}
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.student.parameters())
    student = next(model.student.parameters())
    before = next(model.teacher.parameters()).detach().clone()
    with torch.no_grad():
        student.add_(1.0)
    model.update_teacher()
    torch.testing.assert_close(next(model.teacher.parameters()), 0.9 * before + 0.1 * student.detach())


def test_pcrlv2_trains_only_the_heads_of_the_drawn_scale():
    torch.manual_seed(0)
    model = PCRLv2((8, 16, 32, 64, 128))
    terms = model(torch.rand(2, 2, 1, 64, 64, 32), torch.rand(2, 2, 1, 64, 64, 32), torch.rand(2, 3, 1, 16, 16, 16), 2)
    assert set(terms) == {"loss", "restoration", "global_global", "local_global"}
    torch.testing.assert_close(terms["loss"], terms["restoration"] + terms["global_global"] + terms["local_global"])
    terms["loss"].backward()
    for scale in range(NonSkipUNet.SCALES):
        got = [p.grad is not None for p in model.restore[scale].parameters()]
        got += [p.grad is not None for p in model.predict[scale].parameters()]
        assert all(got) if scale == 2 else not any(got), scale
    assert all(p.grad is not None for p in model.network.decoder[:2].parameters())
    assert not any(p.grad is not None for p in model.network.decoder[2:].parameters())


def _exported(method: str, folder, step: int) -> tuple[torch.nn.Module, dict, dict]:
    """(trained model, the weights as a fine-tuning script loads them, encoder.json)."""
    torch.manual_seed(0)
    model = METHODS[method].build(TINY)
    path = write_export(METHODS[method], model, TINY, folder, step=step)
    return model, torch.load(path, weights_only=True), json.loads((folder / "encoder.json").read_text())


def test_voco_export_loads_into_a_fresh_swinunetr_with_every_encoder_key(tmp_path):
    _, weights, description = _exported("voco", tmp_path, step=7)
    assert description["target"]["class"] == "monai.networks.nets.SwinUNETR" and description["step"] == 7
    fresh = SwinUNETR(out_channels=14, **description["target"]["kwargs"])
    result = fresh.load_state_dict(weights, strict=False)
    assert result.unexpected_keys == []
    assert not [key for key in result.missing_keys if key.startswith("swinViT.")]
    assert len(weights) == len([key for key in fresh.state_dict() if key.startswith("swinViT.")])
    torch.testing.assert_close(
        fresh.state_dict()["swinViT.patch_embed.proj.weight"], weights["swinViT.patch_embed.proj.weight"]
    )
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
