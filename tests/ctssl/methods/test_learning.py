"""Each method learns: its loss falls on a fixed batch of real crops."""

from __future__ import annotations

import numpy as np
import torch

from ctssl.data import RegionDataset
from ctssl.methods import METHODS
from ctssl.models.nsunet import NonSkipUNet


def _fixed_batch(corpus_url: str, method: str) -> dict:
    chosen = METHODS[method]
    tiny = chosen.recipe().tiny
    dataset = RegionDataset(corpus_url, chosen.sampler(tiny), seed=0)
    batch = dataset.collate([dataset.sample(dataset.entries[i], np.random.default_rng(i)) for i in range(2)])
    generator, shared = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    return chosen.training().inputs(batch, tiny, torch.device("cpu"), generator, shared)


def _model(method: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return METHODS[method].training().build(METHODS[method].recipe().tiny)


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: dict, steps: int, scales: bool) -> None:
    before_forward = METHODS["pcrlv2" if scales else "voco"].training().before_forward
    for step in range(steps):
        if scales:
            inputs["scales"] = (step % NonSkipUNet.SCALES,) * len(inputs["scales"])
        extra = before_forward(model, step, steps) if before_forward is not None else {}
        optimizer.zero_grad()
        model(**inputs, **extra)["loss"].backward()
        optimizer.step()


def test_voco_loss_falls_on_a_fixed_batch(phantom_corpus):
    model = _model("voco")
    inputs = _fixed_batch(phantom_corpus, "voco")
    with torch.no_grad():
        before = {name: float(value) for name, value in model(**inputs).items()}
    _train(model, torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=1e-2), inputs, 8, scales=False)
    with torch.no_grad():
        after = model(**inputs)
    assert float(after["loss"]) < 0.5 * before["loss"]
    assert float(after["prediction"]) < 0.5 * before["prediction"]


def test_pcrlv2_loss_falls_on_a_fixed_batch_at_every_scale(phantom_corpus):
    model = _model("pcrlv2")
    inputs = _fixed_batch(phantom_corpus, "pcrlv2")

    def per_scale() -> list[dict[str, float]]:
        with torch.no_grad():
            return [
                {k: float(v) for k, v in model(**{**inputs, "scales": (s,) * len(inputs["scales"])}).items()}
                for s in range(NonSkipUNet.SCALES)
            ]

    before = per_scale()
    optimizer = torch.optim.SGD(model.parameters(), 1e-2, momentum=0.9, weight_decay=1e-5)
    _train(model, optimizer, inputs, 25, scales=True)
    after = per_scale()
    assert sum(a["loss"] for a in after) < sum(b["loss"] for b in before) - 0.5  # comparisons: means in [-1, 1]
    assert sum(a["restoration"] for a in after) < 0.75 * sum(b["restoration"] for b in before)
