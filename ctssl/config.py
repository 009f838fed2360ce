"""One pre-training run's options (no torch: the CLI takes its defaults from here)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ctssl.methods import MethodOptions, find_method

# amsgrad: AdamW with the AMSGrad variant; larc: SGD with layer-wise adaptive rates (ctssl.optim)
OPTIMIZERS = ("adamw", "amsgrad", "sgd", "larc")
MAX_WORKERS = 4  # loader processes by default, fewer where fewer cores are usable


@dataclass(frozen=True)
class TrainConfig:
    """One run. Options left as None take the recipe's defaults (ctssl/methods/<name>/defaults.py)."""

    method: str
    corpus: str
    out: Path
    steps: int = 100_000
    batch_size: int | None = None  # per process
    optimizer: str | None = None  # adamw | amsgrad | sgd | larc
    lr: float | None = None
    weight_decay: float | None = None
    warmup_steps: int | None = None
    grad_clip: float | None = None  # 0 = off
    momentum: float = 0.9  # SGD momentum / AdamW beta1
    checkpoint_every: int = 1000
    keep_checkpoints: int = 0  # periodic snapshots kept besides last.pt
    log_every: int = 10
    workers: int | None = None  # loader processes; None: min(MAX_WORKERS, usable cores per process)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    mixture: str | None = None
    resume: bool = False
    synthetic: bool = False  # benchmark: repeat the first batch from memory, no loader in the loop
    memory_check: bool = True  # refuse to start when the step is estimated not to fit (ctssl.memory)
    recipe: str | None = None  # the method's options and optimisation defaults; None: its default recipe
    model: MethodOptions | None = None  # architecture and crops; None: the recipe's

    def resolved(self) -> TrainConfig:
        """Every None filled with the method's default, and the combination checked."""
        method = find_method(self.method)
        recipe = method.recipe(self.recipe)
        model = recipe.options if self.model is None else self.model
        if type(model) is not type(method.paper):
            raise ValueError(f"{self.method} takes {type(method.paper).__name__}, got {type(model).__name__}")
        defaults = recipe.optimisation
        chosen = {name: getattr(self, name) for name in asdict(defaults)}
        filled = {name: getattr(defaults, name) if value is None else value for name, value in chosen.items()}
        if filled["optimizer"] not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {filled['optimizer']!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        minimum = method.min_batch_size(model)
        if filled["batch_size"] < minimum:
            raise ValueError(
                f"{self.method} with these crops needs a batch size of at least {minimum} per process, "
                f"got {filled['batch_size']}: its batch-norm layers need several samples to normalise over"
            )
        workers = default_workers() if self.workers is None else self.workers
        return replace(self, recipe=recipe.name, model=model, workers=workers, **filled)


def usable_cores() -> int:
    """Cores this process may run on (its affinity, which container and batch-system limits set)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers() -> int:
    """Loader processes per training process: at most the usable cores, shared by the processes of a node."""
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return min(MAX_WORKERS, usable_cores() // max(processes, 1))
