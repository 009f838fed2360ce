"""The step-based pre-training loop shared by every method (ctssl.methods).

Every random choice of a step (augmentation, PCRLv2's scale) comes from
generators seeded by (seed, step, rank), and the data stream can start at any
step, so a resumed run continues the very loss curve it left.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from corpus.store.atomic import remove_partials
from ctssl import checkpoint, distributed, feed, memory, resume
from ctssl.config import TrainConfig
from ctssl.export import write_export
from ctssl.methods import Method, Training, find_method
from ctssl.optim import LARC
from ctssl.preemption import StopSignals
from ctssl.resume import CHECKPOINT
from ctssl.runlog import PASSED_OVER, RunLog
from ctssl.schedule import warmup_cosine


@dataclass(frozen=True)
class RunResult:
    start_step: int
    steps: int  # the step reached
    records: list[dict[str, Any]]
    checkpoint: Path
    export: Path | None  # None when a signal stopped the run before its last step
    stopped_by: str | None = None  # SIGTERM or SIGINT: checkpointed at ``steps``, to be resumed


def pretrain(config: TrainConfig, stream: TextIO | None = None) -> RunResult:
    """Train ``config.method`` on the corpus; under torchrun every process calls this."""
    config = config.resolved()
    context = distributed.start(config.device)
    try:
        return _run(config, find_method(config.method), context, stream)
    finally:
        distributed.stop()


def _run(config: TrainConfig, method: Method[Any], context: distributed.Context, stream: TextIO | None) -> RunResult:
    _autocast(config, context.device)  # an impossible --precision fails now, not after the loaders start
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    if context.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # crop sizes are fixed per method: autotune the 3D convolutions once
        torch.backends.cuda.matmul.allow_tf32 = True
    training = method.training()
    assert config.model is not None and config.batch_size is not None and config.weight_decay is not None
    assert config.optimizer is not None
    model = training.build(config.model).to(context.device)
    optimizer = _optimizer(config, model)
    identity = resume.identity(
        config.method, config.model.to_dict(), config.batch_size, config.optimizer, config.momentum
    )
    stream_options = _stream_options(config, context)
    start_step = 0
    if resume.decide(config.out, config.resume, context):
        path = config.out / CHECKPOINT
        start_step = resume.restore(
            path, identity, stream_options, model, optimizer, config.weight_decay, announce=context.main
        )
        resume.check_steps(start_step, config.steps, path)
    log = RunLog(config.out / "train.jsonl" if context.main else None, config.steps, stream)
    if context.main:
        _start_files(config, log, start_step, context)
    wrapped: nn.Module = model
    if context.world_size > 1:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids, find_unused_parameters=training.find_unused_parameters)
    batches = _checked_batches(config, training, context, _batches(config, method, context, start_step), start_step)
    records: list[dict[str, Any]] = []
    passed_over = 0  # samples of this run taken from another volume: the sampler rejected theirs (ctssl.data)
    with StopSignals() as signals:
        for step in range(start_step, config.steps):
            waited = time.perf_counter()
            batch = next(batches)
            log.waited(time.perf_counter() - waited)
            passed_over += len(batch.get("passed_over", ()))
            terms, grad_norm, lr = _step(config, training, context, wrapped, model, optimizer, batch, step)
            log.stepped()
            done = step + 1
            stopping = distributed.any_true(signals.received is not None, context)  # every rank stops at one step
            if done % config.log_every == 0 or done == config.steps or stopping:
                values = {name: float(value.detach()) for name, value in terms.items()} | {"grad_norm": grad_norm}
                values |= {PASSED_OVER: passed_over / context.world_size}  # the mean over ranks makes it their sum
                values = distributed.mean_over_ranks(values, context) | {"lr": lr, "world_size": context.world_size}
                records.append(log.write(done, values, config.batch_size * context.world_size, context.device))
            if done % config.checkpoint_every == 0 or done == config.steps or stopping:
                _save_checkpoint(config, context, model, resume.state(done, identity, stream_options, model, optimizer))
            if stopping:
                stopped_by = signals.received or "a signal to another process"
                return RunResult(start_step, done, records, config.out / CHECKPOINT, None, stopped_by)
    export = config.out / "export" / "encoder.pt"
    if context.main:
        export = write_export(method, model, config.model, config.out / "export", config.steps)
    return RunResult(start_step, config.steps, records, config.out / CHECKPOINT, export)


def _save_checkpoint(
    config: TrainConfig, context: distributed.Context, model: nn.Module, state: dict[str, Any]
) -> None:
    """last.pt (and a kept snapshot), once every rank's weights are checked to be the same."""
    distributed.check_in_sync(model, context)
    if context.main:
        checkpoint.save(config.out / CHECKPOINT, state)
        checkpoint.keep_snapshot(config.out / CHECKPOINT, int(state["step"]), config.keep_checkpoints)
    distributed.barrier(context)


def _checked_batches(
    config: TrainConfig,
    training: Training[Any],
    context: distributed.Context,
    batches: Iterator[dict[str, Any]],
    start_step: int,
) -> Iterator[dict[str, Any]]:
    """The batches, after the first one showed that a step fits in the device's memory (every rank agrees)."""
    first = next(batches)
    if config.memory_check:
        assert config.batch_size is not None and config.optimizer is not None
        generator, shared = feed.generators(config.seed, start_step, context.rank)
        with torch.random.fork_rng(devices=[context.device] if context.device.type == "cuda" else []):
            inputs = training.inputs(first, config.model, context.device, generator, shared)
            if training.peak_step is not None:
                inputs |= training.peak_step(config.model)
            needed = memory.estimate(training, config.model, config.optimizer, inputs)
        del inputs
        problem = memory.shortfall(
            needed, memory.available_bytes(context.device), context.device, config.batch_size, config.method
        )
        if not distributed.all_true(problem is None, context):
            raise ValueError(problem or "Another process's device cannot hold the step; see its message")
        if context.main:
            print(f"memory: {config.method} needs {needed.describe()}", file=sys.stderr, flush=True)
    return itertools.chain([first], batches)


def _step(
    config: TrainConfig,
    training: Training[Any],
    context: distributed.Context,
    wrapped: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, Any],
    step: int,
) -> tuple[dict[str, torch.Tensor], float, float]:
    """One optimizer step; returns (loss terms, gradient norm before clipping, lr used)."""
    lr = _lr(config, training, step)
    for group in optimizer.param_groups:
        group["lr"] = lr
    generator, shared = feed.generators(config.seed, step, context.rank)
    inputs = training.inputs(batch, config.model, context.device, generator, shared)  # fp32, outside autocast
    if training.before_forward is not None:
        inputs |= training.before_forward(model, step, config.steps)
    with _autocast(config, context.device):
        terms = wrapped(**inputs)
    optimizer.zero_grad(set_to_none=True)
    terms["loss"].backward()
    if training.after_backward is not None:
        training.after_backward(model, step, config.steps)
    grad_norm = clip_gradients(model, config.grad_clip)  # gradients are averaged over ranks: the same norm everywhere
    _check_finite(float(terms["loss"].detach()), grad_norm, step + 1, config, context)
    optimizer.step()
    return terms, grad_norm, lr


def _lr(config: TrainConfig, training: Training[Any], step: int) -> float:
    """The lr of 0-based ``step``: the method's schedule, or warmup then cosine over the whole run."""
    assert config.lr is not None and config.warmup_steps is not None
    if training.lr_factor is not None:
        return config.lr * training.lr_factor(config.model, step, config.steps, config.warmup_steps)
    return config.lr * warmup_cosine(step, config.warmup_steps, config.steps)


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    assert config.lr is not None and config.weight_decay is not None
    parameters = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "larc":
        return LARC(parameters, config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.AdamW(
        parameters,
        config.lr,
        betas=(config.momentum, 0.999),
        weight_decay=config.weight_decay,
        amsgrad=config.optimizer == "amsgrad",
    )


def _stream_options(config: TrainConfig, context: distributed.Context) -> dict[str, Any]:
    """What fixes the order of samples: resuming with other values is allowed, with a warning."""
    return {
        "corpus": str(config.corpus),
        "mixture": str(config.mixture) if config.mixture else None,
        "seed": config.seed,
        "workers": config.workers,
        "processes": context.world_size,
    }


def _start_files(config: TrainConfig, log: RunLog, start_step: int, context: distributed.Context) -> None:
    """config.json, the log cut back to the resumed step, and one line saying what starts."""
    config.out.mkdir(parents=True, exist_ok=True)
    for folder in (config.out, (config.out / CHECKPOINT).parent):  # what killed atomic writes left
        remove_partials(folder)
    name = f"config.resumed-at-{start_step}.json" if start_step else "config.json"  # the first one is kept
    (config.out / name).write_text(json.dumps(asdict(config), indent=2, default=str) + "\n")
    log.truncate(start_step)
    where = f"{context.world_size} process(es) on {context.device.type}"
    print(
        f"{config.method}: steps {start_step} -> {config.steps}, batch {config.batch_size} per process, {where}, "
        f"into {config.out}",
        file=log.stream,
        flush=True,
    )


def _batches(config: TrainConfig, method: Method[Any], context: distributed.Context, start_step: int) -> Iterator[Any]:
    assert config.batch_size is not None and config.workers is not None
    batches = feed.batches(
        config.corpus,
        method.sampler(config.model),
        config.mixture,
        config.batch_size,
        config.workers,
        config.seed,
        context.rank,
        context.world_size,
        start_step,
        pin_memory=context.device.type == "cuda",
    )
    return feed.from_memory(batches) if config.synthetic else batches


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    return precision_context(config.precision, device)


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast or nothing, as ``--precision`` says (auto: bf16 on CUDA, fp32 on the CPU)."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise ValueError(f"--precision must be auto, bf16 or fp32, got {precision!r}")
    if device.type != "cuda":
        # CPU bf16 convolutions gave PCRLv2's decoder gradients of 1e37 on the first step in testing.
        raise ValueError("--precision bf16 is for CUDA devices; on the CPU use fp32 (the default there)")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def clip_gradients(model: nn.Module, max_norm: float | None) -> float:
    """Clip the global gradient norm when max_norm > 0; return the norm before clipping."""
    parameters = [p for p in model.parameters() if p.grad is not None]
    if not parameters:
        return 0.0
    limit = max_norm if max_norm and max_norm > 0 else math.inf
    return float(torch.nn.utils.clip_grad_norm_(parameters, limit))


def _check_finite(loss: float, grad_norm: float, step: int, config: TrainConfig, context: distributed.Context) -> None:
    """Stop every rank before a non-finite update reaches the weights (or a checkpoint)."""
    if not distributed.all_true(math.isfinite(loss) and math.isfinite(grad_norm), context):
        raise FloatingPointError(
            f"Step {step} gave loss {loss} and gradient norm {grad_norm}; the weights were not updated. "
            f"Lower --lr (now {config.lr}) or set --grad-clip, then --resume from {config.out / CHECKPOINT}"
        )
