"""What each training step consumes: batches from the corpus loader, and its random generators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ctssl.data import Mixture, RegionDataset, TrainingStream
from ctssl.samplers.base import Sampler


def batches(
    corpus_url: str,
    sampler: Sampler,
    mixture_path: str | None,
    batch_size: int,
    workers: int,
    seed: int,
    rank: int,
    world_size: int,
    start_step: int,
    pin_memory: bool,
) -> Iterator[dict[str, Any]]:
    """Endless batches for this rank, the first one being the batch of ``start_step``."""
    mixture = Mixture.from_toml(mixture_path) if mixture_path else None
    dataset = RegionDataset(corpus_url, sampler, mixture, seed, rank, world_size)
    if not dataset.entries:
        chosen = f" with the sources/splits of {mixture_path}" if mixture_path else ""
        raise ValueError(f"{corpus_url} holds no stored volumes{chosen}: build one with `corpus build` first")
    loader = DataLoader(
        TrainingStream(dataset, batch_size, start_batch=start_step),
        batch_size=None,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers > 0 else None,
    )
    return iter(loader)


def from_memory(source: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The first batch of ``source`` over and over (benchmarks: the step without the loader)."""
    first = next(source)
    del source  # the loader's workers stop
    while True:
        yield first


def generators(seed: int, step: int, rank: int) -> tuple[torch.Generator, torch.Generator]:
    """(this rank's generator, one that every rank shares) for ``step``: a resumed step draws the same."""
    own = np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]
    shared = np.random.SeedSequence([seed, step]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(own)), torch.Generator().manual_seed(int(shared))
