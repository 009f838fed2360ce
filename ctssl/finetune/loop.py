"""The fine-tuning loop: the pre-training loop's checkpoint, resume, DDP, bf16 and run-log pieces.

Rank 0 validates (sliding window over each held-out volume, overlap 0.75 by
default) before the first step, every ``val_every`` steps and at the end, and
writes the per-class Dice history to OUT/metrics.json; the other ranks wait.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.metrics import compute_dice
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import corpus
from corpus.store.atomic import write_bytes_atomic
from ctssl import checkpoint, distributed, resume
from ctssl.augment import window
from ctssl.finetune.augment import augment
from ctssl.finetune.compare import METRICS
from ctssl.finetune.config import FULL, TINY, VAL_SPLITS, FinetuneConfig
from ctssl.finetune.model import LoadReport, build_model, load_weights, read_target
from ctssl.finetune.sampling import CropSource, Split, labelled_split, present_labels, to_classes
from ctssl.resume import CHECKPOINT
from ctssl.runlog import RunLog
from ctssl.schedule import warmup_cosine
from ctssl.train import clip_gradients, precision_context


@dataclass(frozen=True)
class FinetuneResult:
    metrics: dict[str, Any]
    path: Path


def finetune(config: FinetuneConfig, stream: TextIO | None = None) -> FinetuneResult:
    """Fine-tune on the labelled volumes of ``config.corpus``; under torchrun every process calls this."""
    context = distributed.start(config.device)
    try:
        return _run(config, context, stream)
    finally:
        distributed.stop()


def _run(config: FinetuneConfig, context: distributed.Context, stream: TextIO | None) -> FinetuneResult:
    precision_context(config.precision, context.device)  # an impossible --precision fails before any work
    torch.manual_seed(config.seed)
    opened = corpus.open(config.corpus)
    split = labelled_split(opened, config.val_volumes, VAL_SPLITS)
    classes = config.classes or present_labels(opened, split.train)
    target = _target(config)
    model = build_model(target, len(classes)).to(context.device)
    report = _load(model, config.weights)
    optimizer = torch.optim.AdamW(model.parameters(), config.lr, weight_decay=config.weight_decay)
    identity = resume.identity(
        "finetune", {"target": target, "classes": list(classes)}, config.batch_size, "adamw", 0.9
    )
    stream_options = {"corpus": config.corpus, "seed": config.seed, "processes": context.world_size}
    start = 0
    if resume.decide(config.out, config.resume, context):
        path = config.out / CHECKPOINT
        start = resume.restore(path, identity, stream_options, model, optimizer, config.weight_decay, context.main)
        resume.check_steps(start, config.steps, path)
    metrics = _metrics_start(config, target, classes, opened.label_names(split.train[0]), report, split, start)
    log = RunLog(config.out / "train.jsonl" if context.main else None, config.steps, stream)
    if context.main:
        config.out.mkdir(parents=True, exist_ok=True)
        log.truncate(start)
    wrapped: nn.Module = model
    if context.world_size > 1:
        ids = [context.device.index] if context.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, ids)
    source = CropSource(config.corpus, split.train, classes, config.crop)
    loss_fn = DiceCELoss(include_background=False, to_onehot_y=True, softmax=True)
    if start == 0:
        _validate(config, context, model, opened, split, classes, metrics, 0, log)
    for step in range(start, config.steps):
        waited = time.perf_counter()
        images, targets = _batch(config, source, step, context)
        log.waited(time.perf_counter() - waited)
        loss, grad_norm, lr = _step(config, context, wrapped, model, optimizer, loss_fn, images, targets, step)
        log.stepped()
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            values = distributed.mean_over_ranks({"loss": loss, "grad_norm": grad_norm}, context) | {"lr": lr}
            log.write(done, values, config.batch_size * context.world_size, context.device)
        if done % config.val_every == 0 or done == config.steps:
            _validate(config, context, model, opened, split, classes, metrics, done, log)
        if done % config.checkpoint_every == 0 or done == config.steps:
            if context.main:
                state = resume.state(done, identity, stream_options, model, optimizer)
                checkpoint.save(config.out / CHECKPOINT, state)
            distributed.barrier(context)
    return FinetuneResult(metrics, config.out / METRICS)


def _target(config: FinetuneConfig) -> dict[str, Any]:
    if config.weights is not None:
        return read_target(config.weights)
    if config.architecture is not None:
        return read_target(config.architecture.parent / "encoder.pt")
    return (TINY if config.tiny else FULL)[config.model]


def _load(model: nn.Module, weights: Path | None) -> LoadReport | None:
    if weights is None:
        return None
    return load_weights(model, torch.load(weights, map_location="cpu", weights_only=True))  # tensors only


def _batch(
    config: FinetuneConfig, source: CropSource, step: int, context: distributed.Context
) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng([config.seed, step, context.rank])
    fraction = config.positive / (config.positive + config.negative)
    pairs = [source.sample(rng, fraction) for _ in range(config.batch_size)]
    images = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None]).to(context.device, torch.float32)
    targets = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None]).to(context.device)
    generator = torch.Generator(device=context.device).manual_seed(int(rng.integers(2**62)))
    return augment(window(images, *config.window), targets, config, generator)


def _step(
    config: FinetuneConfig,
    context: distributed.Context,
    wrapped: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    step: int,
) -> tuple[float, float, float]:
    lr = config.lr * warmup_cosine(step, config.warmup_steps, config.steps)  # per iteration, as released
    for group in optimizer.param_groups:
        group["lr"] = lr
    model.train()
    with precision_context(config.precision, context.device):
        logits = wrapped(images)
    loss = loss_fn(logits.float(), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = clip_gradients(model, config.grad_clip)
    value = float(loss.detach())
    if not distributed.all_true(math.isfinite(value) and math.isfinite(grad_norm), context):
        raise FloatingPointError(f"Step {step + 1} gave loss {value}; lower --lr (now {config.lr}) and --resume")
    optimizer.step()
    return value, grad_norm, lr


@torch.no_grad()
def _validate(
    config: FinetuneConfig,
    context: distributed.Context,
    model: nn.Module,
    opened: corpus.Corpus,
    split: Split,
    classes: tuple[int, ...],
    metrics: dict[str, Any],
    step: int,
    log: RunLog,
) -> None:
    if context.main:
        model.eval()
        per_volume = [_dice(config, context, model, opened, volume_id, classes) for volume_id in split.val]
        dice = np.nanmean(np.stack(per_volume), axis=0)
        names = [entry["name"] for entry in metrics["classes"].values()]
        entry = {"step": step, "dice": dict(zip(names, _rounded(dice), strict=True)), "mean_dice": _mean(dice)}
        metrics["history"].append(entry)
        metrics["final"] = entry
        metrics["best"] = max(metrics["history"], key=lambda e: -1.0 if e["mean_dice"] is None else e["mean_dice"])
        write_bytes_atomic(config.out / METRICS, (json.dumps(metrics, indent=2) + "\n").encode())
        print(f"step {step}: validation mean Dice {entry['mean_dice']}  {entry['dice']}", file=log.stream, flush=True)
        model.train()
    distributed.barrier(context)


def _dice(
    config: FinetuneConfig,
    context: distributed.Context,
    model: nn.Module,
    opened: corpus.Corpus,
    volume_id: str,
    classes: tuple[int, ...],
) -> np.ndarray:
    """Per-class Dice (background excluded) of one whole held-out volume; NaN where a class is absent."""
    image = torch.from_numpy(opened.read(volume_id)[None, None]).to(context.device, torch.float32)
    truth = torch.from_numpy(to_classes(opened.read_labels(volume_id), classes)[None, None]).to(context.device)
    with precision_context(config.precision, context.device):
        logits = sliding_window_inference(
            window(image, *config.window), config.crop, config.sw_batch_size, model, overlap=config.overlap
        )
    assert isinstance(logits, torch.Tensor)
    count = len(classes) + 1
    predicted = nn.functional.one_hot(logits.float().argmax(1), count).permute(0, 4, 1, 2, 3)
    expected = nn.functional.one_hot(truth[:, 0], count).permute(0, 4, 1, 2, 3)
    return compute_dice(predicted, expected, include_background=False, ignore_empty=True)[0].cpu().numpy()


def _rounded(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else round(float(v), 4) for v in values]


def _mean(values: np.ndarray) -> float | None:
    present = values[~np.isnan(values)]
    return round(float(present.mean()), 4) if len(present) else None


def _metrics_start(
    config: FinetuneConfig,
    target: dict[str, Any],
    classes: tuple[int, ...],
    names: dict[int, str],
    report: LoadReport | None,
    split: Split,
    start: int,
) -> dict[str, Any]:
    """The metrics record: the earlier history when resuming, cut back to the resumed step."""
    history: list[dict[str, Any]] = []
    path = config.out / METRICS
    if start and path.is_file():
        history = [e for e in json.loads(path.read_text())["history"] if e["step"] <= start]
    return {
        "weights": str(config.weights) if config.weights else None,
        "target": target,
        "load": report.summary() if report else None,
        "classes": {str(i): {"value": v, "name": names.get(v, f"label_{v}")} for i, v in enumerate(classes, 1)},
        "split": {"train": list(split.train), "val": list(split.val)},
        "config": json.loads(json.dumps(asdict(config), default=str)),
        "history": history,
        "final": history[-1] if history else None,
        "best": None,
    }
