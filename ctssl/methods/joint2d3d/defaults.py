"""Joint 2D/3D pre-training's options with our defaults for what the paper leaves out (no torch).

Values marked (R) are the authors' released code's; the README lists every choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctssl.methods.base import MethodOptions, Optimisation

MODES = ("3d", "2d")  # 3d: views of slice stacks, every loss; 2d: views of single slices, the 2D clustering only
SLICE_AXES = ("axial", "coronal", "sagittal")
BACKBONES = ("resnet50", "tiny")
LEVELS = ("all5", "last")
CLUSTERINGS = ("swav", "deepcluster")
SCHEDULES = ("staged", "joint")  # staged: the paper's three stages by step; joint: every loss every step
MASK_RATIO = 0.1  # the paper: 10 % of a volume's slices are masked


@dataclass(frozen=True)
class JointOptions(MethodOptions):
    # data and views
    mode: str = "3d"
    slice_axis: str = "axial"
    slices: int = 64  # n per stack (R: 64 x 128 x 128)
    slice_stride: int = 1  # stored slices per stack slice
    region_size: int = 256  # in-plane voxels read: 384 mm at 1.5 mm holds a torso cross-section
    view_size: int = 128  # in-plane pixels of a view (R)
    crop_scale: tuple[float, float] = (0.14, 1.0)  # area fraction of a view's in-plane crop (SwAV's global crops)
    # f_intra and the 2D branch
    backbone: str = "resnet50"
    levels: str = "all5"  # all5: stem + layer1..4 pooled and concatenated; last: layer4 only (the ablation)
    head_2d: tuple[int, int] = (2048, 128)  # SwAV head on pooled layer4: hidden, output
    # f_inter
    d_model: int = 640  # (R)
    ffn: int = 720  # (R)
    layers: int = 4  # (R)
    heads: int = 8
    groups: int = 8  # offset groups, one per head
    reduction: int = 4  # one reference point per 4 slices (R)
    offset_kernel: int = 6  # (R)
    offset_range: float = 8.0  # slices = 2 reference spacings (R)
    max_slices: int = 256  # span of the relative-position table
    dropout: float = 0.1  # (R)
    # clustering
    clustering: str = "swav"
    prototypes_2d: int = 3000  # SwAV prototypes (R)
    prototypes_3d: int = 3000  # (R)
    temperature: float = 0.1  # tau (R)
    epsilon: float = 0.05  # Sinkhorn smoothing (R)
    sinkhorn_iterations: int = 3  # (R)
    freeze_prototypes_steps: int = 313  # prototypes get no gradient in a stage's first steps (R: one epoch)
    dc_heads_2d: tuple[int, ...] = (3000, 3000, 3000)  # DeepCluster-v2 clusterings (R)
    dc_heads_3d: tuple[int, ...] = (4, 4, 4)  # (R)
    dc_bank: int = 16384  # embeddings kept per kind (2D, 3D) for k-means
    dc_recluster_every: int = 200  # steps between k-means runs
    # schedule
    schedule: str = "staged"
    stage_fractions: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # of --steps: 2D, mask, 3D (paper: equal)
    loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # joint schedule: L_2D, L_3D, L_mask

    def __post_init__(self) -> None:
        for name, allowed in (
            ("mode", MODES),
            ("slice_axis", SLICE_AXES),
            ("backbone", BACKBONES),
            ("levels", LEVELS),
            ("clustering", CLUSTERINGS),
            ("schedule", SCHEDULES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.mode == "3d" and self.slices < self.reduction:
            raise ValueError(
                f"a stack of {self.slices} slices is shorter than the attention's reduction {self.reduction}: "
                "use more slices or a smaller reduction"
            )


PAPER = JointOptions()
TINY = JointOptions(
    slices=8,
    region_size=64,
    view_size=32,
    backbone="tiny",
    head_2d=(64, 16),
    d_model=32,
    ffn=48,
    layers=1,
    heads=2,
    groups=2,
    reduction=2,
    offset_kernel=4,
    offset_range=4.0,
    max_slices=16,
    dropout=0.0,
    prototypes_2d=16,
    prototypes_3d=8,
    freeze_prototypes_steps=0,
    dc_heads_2d=(16, 16, 16),
    dc_bank=64,
    dc_recluster_every=4,
)
# (R): SGD + LARC (trust 1e-3), lr 1e-2, weight decay 1e-6, warmup then cosine in each stage, clip 2, 6 volumes per GPU.
OPTIMISATION = Optimisation(
    optimizer="larc", lr=1e-2, weight_decay=1e-6, warmup_steps=1000, batch_size=6, grad_clip=2.0
)
