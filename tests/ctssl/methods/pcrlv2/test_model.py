"""The PCRLv2 model: only the drawn scale's heads and decoder levels learn in a step."""

from __future__ import annotations

import torch

from ctssl.methods.pcrlv2.model import PCRLv2
from ctssl.models.nsunet import NonSkipUNet


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
