"""One fine-tuning run's options; defaults follow the released SwinUNETR/VoCo BTCV recipe (no torch here).

Released recipe (VoCo Finetune/BTCV, MONAI research-contributions SwinUNETR/BTCV):
RAS at 1.5 mm (what the corpus stores), HU -175..250 -> [0, 1] clipped, 96³
crops by positive/negative label sampling, flips on each axis and quarter
turns with p 0.2, intensity scale ±0.1 (p 0.1) and shift ±0.1 (p 0.5),
Dice + cross-entropy without background on softmax, AdamW lr 3e-4 weight
decay 1e-5, linear warmup then cosine per iteration, sliding-window
validation with overlap 0.75, mean Dice without background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS = ("swinunetr", "basicunet")
VAL_SPLITS = ("val", "validation")
FULL = {  # a scratch model with no export to copy: the pre-training defaults' architectures
    "swinunetr": {
        "class": "monai.networks.nets.SwinUNETR",
        "kwargs": {"in_channels": 1, "feature_size": 48, "use_v2": True},
    },
    "basicunet": {
        "class": "monai.networks.nets.BasicUNet",
        "kwargs": {
            "spatial_dims": 3,
            "in_channels": 1,
            "features": [32, 64, 128, 256, 512, 32],
            "norm": "batch",
            "act": "relu",
        },
    },
}
TINY = {  # CPU-sized, the same as `corpus pretrain --tiny` exports
    "swinunetr": {
        "class": "monai.networks.nets.SwinUNETR",
        "kwargs": {"in_channels": 1, "feature_size": 12, "use_v2": True, "window_size": 4},
    },
    "basicunet": {
        "class": "monai.networks.nets.BasicUNet",
        "kwargs": {
            "spatial_dims": 3,
            "in_channels": 1,
            "features": [8, 16, 32, 64, 128, 8],
            "norm": "batch",
            "act": "relu",
        },
    },
}


@dataclass(frozen=True)
class FinetuneConfig:
    corpus: str
    out: Path
    weights: Path | None = None  # encoder.pt of an export; None: scratch
    model: str = "swinunetr"  # scratch only; an export names its own model
    architecture: Path | None = None  # scratch with the architecture of this encoder.json
    tiny: bool = False  # scratch: the CPU-sized architecture
    classes: tuple[int, ...] = ()  # label values to learn (class 1, 2, ...); () = every value in the train volumes
    crop: tuple[int, int, int] = (96, 96, 96)
    steps: int = 3000
    batch_size: int = 4  # crops per step per process (the released num_samples)
    positive: float = 1.0  # RandCropByPosNegLabel pos:neg ratio
    negative: float = 1.0
    lr: float = 3e-4
    weight_decay: float = 1e-5
    warmup_steps: int = 100
    grad_clip: float = 0.0  # released: none
    window: tuple[float, float] = (-175.0, 250.0)
    flip_p: float = 0.2
    rot90_p: float = 0.2
    scale_p: float = 0.1
    shift_p: float = 0.5
    intensity: float = 0.1
    val_every: int = 100
    overlap: float = 0.75
    sw_batch_size: int = 4
    val_volumes: tuple[str, ...] = ()  # () = rows whose split is val/validation, else the last labelled volume
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    resume: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"--model must be one of {MODELS}, got {self.model!r}")
        if min(self.crop) < 32 or any(c % 32 for c in self.crop):
            raise ValueError(f"--crop must be multiples of 32 voxels (SwinUNETR halves it five times), got {self.crop}")
        if self.positive < 0 or self.negative < 0 or self.positive + self.negative == 0:
            raise ValueError(f"--pos/--neg must be non-negative and not both 0, got {self.positive}, {self.negative}")
