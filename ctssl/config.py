"""One pre-training run's options (no torch: the CLI takes its defaults from here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ctssl.methods import MethodOptions, find_method

OPTIMIZERS = ("adamw", "sgd", "larc")  # larc: SGD with layer-wise adaptive rates (ctssl.optim)


@dataclass(frozen=True)
class TrainConfig:
    """One run. Options left as None take the method's defaults (ctssl/methods/<name>/defaults.py)."""

    method: str
    corpus: str
    out: Path
    steps: int = 100_000
    batch_size: int | None = None  # per process
    optimizer: str | None = None  # adamw | sgd | larc
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
    model: MethodOptions | None = None  # architecture and crops; None: the paper's

    def resolved(self) -> TrainConfig:
        """Every None filled with the method's default, and the combination checked."""
        method = find_method(self.method)
        model = method.paper if self.model is None else self.model
        if type(model) is not type(method.paper):
            raise ValueError(f"{self.method} takes {type(method.paper).__name__}, got {type(model).__name__}")
        defaults = method.optimisation
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
        return replace(self, model=model, **filled)
