"""The PCRLv2 model: the released objective (local-global terms averaged, a scale per term, restoration plus a
fading deep supervision) and the paper's Eq. 10 (one scale per step, the local-global terms summed)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ctssl.methods.pcrlv2.defaults import RELEASE_TINY, SCALES, TINY
from ctssl.methods.pcrlv2.losses import comparison_loss
from ctssl.methods.pcrlv2.model import PCRLv2
from ctssl.methods.pcrlv2.training import TRAINING
from ctssl.models.nsunet import NonSkipUNet


def _inputs(local_views: int = 3) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "global_inputs": torch.randn(2, 2, 1, 64, 64, 32, generator=generator),
        "global_targets": torch.rand(2, 2, 1, 64, 64, 32, generator=generator),
        "local_inputs": torch.randn(2, local_views, 1, 16, 16, 16, generator=generator),
    }


def _heads_with_gradient(model: PCRLv2) -> list[int]:
    return [
        scale
        for scale in range(NonSkipUNet.SCALES)
        if all(p.grad is not None for p in model.predict[scale].parameters())
    ]


def test_eq10_trains_only_the_heads_of_the_drawn_scale():
    torch.manual_seed(0)
    model = PCRLv2(replace(TINY, local_views=3))
    terms = model(**_inputs(), scales=(2,) * 7)
    assert set(terms) == {"loss", "restoration", "global_global", "local_global"}
    torch.testing.assert_close(terms["loss"], terms["restoration"] + terms["global_global"] + terms["local_global"])
    terms["loss"].backward()
    for scale in range(NonSkipUNet.SCALES):
        got = [p.grad is not None for p in model.restore[scale].parameters()]
        got += [p.grad is not None for p in model.predict[scale].parameters()]
        assert all(got) if scale == 2 else not any(got), scale
    assert all(p.grad is not None for p in model.network.decoder[:2].parameters())
    assert not any(p.grad is not None for p in model.network.decoder[2:].parameters())


def test_release_objective_averages_the_local_global_terms_each_at_its_own_scale():
    """Recomputed from the pyramid outside the model: the mean (not the sum) of the 2L terms, scale by scale."""
    torch.manual_seed(0)
    model = PCRLv2(replace(RELEASE_TINY, local_views=3))
    inputs = _inputs()
    scales = (4, 0, 1, 2, 3, 4, 1)  # C(g1, g2) at 4; C(g1, l0) at 0, C(g2, l0) at 1, C(g1, l1) at 2, ...
    terms = model(**inputs, scales=scales, deep_supervision_weight=0.25)
    assert set(terms) == {"loss", "restoration", "deep_supervision", "global_global", "local_global"}
    expected_loss = terms["restoration"] + 0.25 * terms["deep_supervision"] + terms["global_global"]
    torch.testing.assert_close(terms["loss"], expected_loss + terms["local_global"])
    with torch.no_grad():
        views = [model._compare_all(model.network.pyramid(inputs["global_inputs"][:, m])) for m in range(2)]
        local = model._compare_all(model.network.pyramid(inputs["local_inputs"].flatten(0, 1)))
    by_hand = []
    for i in range(3):
        for m in range(2):
            s = scales[1 + 2 * i + m]
            vectors, predicted = (part.view(2, 3, -1)[:, i] for part in local[s])
            by_hand.append(float(comparison_loss(views[m][s][0], vectors, views[m][s][1], predicted)))
    # batch norm in training mode updates running statistics, not the outputs: the recomputation is exact
    assert terms["local_global"].item() == pytest.approx(sum(by_hand) / 6, abs=1e-5)
    assert -1.0 <= terms["local_global"].item() <= 1.0  # a mean of 2L negative cosines, not a sum in [-2L, 2L]
    terms["loss"].backward()
    assert _heads_with_gradient(model) == [0, 1, 2, 3, 4]


def test_a_fixed_scale_replaces_the_drawn_ones():
    torch.manual_seed(0)
    model = PCRLv2(replace(RELEASE_TINY, local_views=3, scale=3))
    model(**_inputs(), scales=(0, 1, 2, 0, 1, 2, 4))["loss"].backward()
    assert _heads_with_gradient(model) == [3]


def test_the_deep_supervision_fades_from_one_to_zero_over_the_run():
    model = PCRLv2(RELEASE_TINY)
    assert TRAINING.before_forward is not None
    weights = [TRAINING.before_forward(model, step, 1000)["deep_supervision_weight"] for step in (0, 500, 999)]
    assert weights == pytest.approx([1.0, 0.5, 0.0], abs=1e-5)


def test_objectives_and_scales_are_checked():
    assert SCALES == NonSkipUNet.SCALES
    with pytest.raises(ValueError, match="release, eq10"):
        PCRLv2(replace(TINY, objective="sum"))
