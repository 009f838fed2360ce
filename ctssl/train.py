"""The step-based pre-training loop shared by VoCo and PCRLv2.

Every random choice of a step (augmentation, PCRLv2's scale) comes from
generators seeded by (seed, step, rank), and the data stream can start at any
step, so a resumed run continues the very loss curve it left.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ctssl import checkpoint, distributed
from ctssl.data import Mixture, RegionDataset, TrainingStream
from ctssl.export import write_export
from ctssl.methods import METHODS, Method, ModelOptions
from ctssl.runlog import RunLog
from ctssl.schedule import warmup_cosine

CHECKPOINT = Path("checkpoints") / "last.pt"


@dataclass(frozen=True)
class TrainConfig:
    """One run. Options left as None take the method's paper defaults (see ctssl.methods)."""

    method: str
    corpus: str
    out: Path
    steps: int = 100_000
    batch_size: int | None = None  # per process
    optimizer: str | None = None  # adamw | sgd
    lr: float | None = None
    weight_decay: float | None = None
    warmup_steps: int | None = None
    grad_clip: float | None = None  # 0 = off
    momentum: float = 0.9  # SGD momentum / AdamW beta1
    checkpoint_every: int = 1000
    log_every: int = 10
    workers: int = 4
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    mixture: str | None = None
    resume: bool = False
    synthetic: bool = False  # benchmark: repeat the first batch from memory, no loader in the loop
    model: ModelOptions = field(default_factory=ModelOptions)

    def resolved(self) -> TrainConfig:
        if self.method not in METHODS:
            raise ValueError(f"Unknown method {self.method!r}: expected one of {', '.join(METHODS)}")
        defaults = METHODS[self.method].defaults
        chosen = {name: getattr(self, name) for name in asdict(defaults)}
        filled = {name: getattr(defaults, name) if value is None else value for name, value in chosen.items()}
        if filled["optimizer"] not in ("adamw", "sgd"):
            raise ValueError(f"--optimizer must be adamw or sgd, got {filled['optimizer']!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        minimum = METHODS[self.method].min_batch_size
        if filled["batch_size"] < minimum:
            raise ValueError(
                f"{self.method} needs a batch size of at least {minimum} per process, got {filled['batch_size']}: "
                "its batch-norm layers need several samples to normalise over"
            )
        return replace(self, **filled)


@dataclass(frozen=True)
class RunResult:
    start_step: int
    steps: int
    records: list[dict[str, Any]]
    checkpoint: Path
    export: Path


def pretrain(config: TrainConfig, stream: TextIO | None = None) -> RunResult:
    """Train ``config.method`` on the corpus; under torchrun every process calls this."""
    config = config.resolved()
    context = distributed.start(config.device)
    try:
        return _run(config, METHODS[config.method], context, stream)
    finally:
        distributed.stop()


def _run(config: TrainConfig, method: Method, context: distributed.Context, stream: TextIO | None) -> RunResult:
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    if context.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # crop sizes are fixed per method: autotune the 3D convolutions once
        torch.backends.cuda.matmul.allow_tf32 = True
    model = method.build(config.model).to(context.device)
    optimizer = _optimizer(config, model)
    assert config.warmup_steps is not None
    warmup, total = config.warmup_steps, config.steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
    start_step = _restore(config, model, optimizer, scheduler)
    if context.main:
        config.out.mkdir(parents=True, exist_ok=True)
        (config.out / "config.json").write_text(json.dumps(asdict(config), indent=2, default=str) + "\n")
    wrapped: nn.Module = model
    if context.world_size > 1:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        wrapped = DistributedDataParallel(
            model, device_ids=device_ids, find_unused_parameters=method.find_unused_parameters
        )
    log = RunLog(config.out / "train.jsonl" if context.main else None, config.steps, stream)
    assert config.batch_size is not None
    samples_per_step = config.batch_size * context.world_size
    batches = _batches(config, method, context, start_step)
    records = []
    for step in range(start_step, config.steps):
        waited = time.perf_counter()
        batch = next(batches)
        log.waited(time.perf_counter() - waited)
        generator, shared = _generators(config.seed, step, context.rank)
        with _autocast(config, context.device):
            terms = wrapped(**method.inputs(batch, context.device, generator, shared))
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        grad_norm = _clip(model, config.grad_clip)
        optimizer.step()
        scheduler.step()
        update_teacher = getattr(model, "update_teacher", None)
        if update_teacher is not None:
            update_teacher()
        log.stepped()
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            values: dict[str, float] = {name: float(value.detach()) for name, value in terms.items()}
            values = distributed.mean_over_ranks({**values, "grad_norm": grad_norm}, context)
            values["world_size"] = context.world_size
            _check_finite(values["loss"], done, config)
            record = log.write(
                done, {**values, "lr": float(scheduler.get_last_lr()[0])}, samples_per_step, context.device
            )
            records.append(record)
        if done % config.checkpoint_every == 0 or done == config.steps:
            _save(config, model, optimizer, scheduler, done, context)
    export = config.out / "export" / "encoder.pt"
    if context.main:
        export = write_export(method, model, config.model, config.out / "export", config.steps)
    return RunResult(start_step, config.steps, records, config.out / CHECKPOINT, export)


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    assert config.lr is not None and config.weight_decay is not None
    parameters = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay)


def _restore(
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> int:
    """The step to start at: 0 for a new run, the checkpoint's step with --resume."""
    path = config.out / CHECKPOINT
    if not path.exists():
        if config.resume:
            print(f"No checkpoint at {path}: starting at step 0", file=sys.stderr)
        return 0
    if not config.resume:
        raise FileExistsError(f"{path} holds an earlier run: pass --resume to continue it, or choose another --out")
    state = checkpoint.load(path)
    _check_same_run(state, config)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    checkpoint.restore_rng(state["rng"])
    return int(state["step"])


def _check_same_run(state: dict[str, Any], config: TrainConfig) -> None:
    saved = (state["method"], state["model_options"], state["batch_size"])
    asked = (config.method, asdict(config.model), config.batch_size)
    if saved != asked:
        raise ValueError(
            f"The checkpoint was written by method/model/batch size {saved}, this run asks for {asked}: "
            "resume with the same options or start a new --out"
        )


def _save(
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    context: distributed.Context,
) -> None:
    if context.main:
        state = {
            "step": step,
            "method": config.method,
            "model_options": asdict(config.model),
            "batch_size": config.batch_size,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": checkpoint.rng_states(),
        }
        checkpoint.save(config.out / CHECKPOINT, state)
    distributed.barrier(context)


def _batches(config: TrainConfig, method: Method, context: distributed.Context, start_step: int) -> Iterator[Any]:
    mixture = Mixture.from_toml(config.mixture) if config.mixture else None
    sampler = method.sampler(config.model)
    dataset = RegionDataset(config.corpus, sampler, mixture, config.seed, context.rank, context.world_size)
    if not dataset.entries:
        chosen = f" with the sources/splits of {config.mixture}" if config.mixture else ""
        raise ValueError(f"{config.corpus} holds no stored volumes{chosen}: build one with `corpus build` first")
    assert config.batch_size is not None
    stream = TrainingStream(dataset, config.batch_size, start_batch=start_step)
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=config.workers,
        pin_memory=context.device.type == "cuda",
        persistent_workers=config.workers > 0,
        prefetch_factor=4 if config.workers > 0 else None,
    )
    batches = iter(loader)
    if not config.synthetic:
        return batches
    first = next(batches)
    del batches, loader  # stop the workers: the run measures the step alone
    return _repeat(first)


def _repeat(batch: Any) -> Iterator[Any]:
    while True:
        yield batch


def _generators(seed: int, step: int, rank: int) -> tuple[torch.Generator, torch.Generator]:
    """(this rank's generator, one shared by all ranks) for ``step``."""
    own = np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]
    shared = np.random.SeedSequence([seed, step]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(own)), torch.Generator().manual_seed(int(shared))


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise ValueError(f"--precision must be auto, bf16 or fp32, got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _clip(model: nn.Module, max_norm: float | None) -> float:
    """Clip the global gradient norm when max_norm > 0; return the norm before clipping."""
    parameters = [p for p in model.parameters() if p.grad is not None]
    if not parameters:
        return 0.0
    limit = max_norm if max_norm and max_norm > 0 else math.inf
    return float(torch.nn.utils.clip_grad_norm_(parameters, limit))


def _check_finite(loss: float, step: int, config: TrainConfig) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"The loss became {loss} at step {step}: lower --lr (now {config.lr}) or --grad-clip, "
            f"then --resume from the last checkpoint in {config.out / CHECKPOINT}"
        )
