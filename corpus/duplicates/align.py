"""Does one fingerprint hold a stretched, shifted stretch of another? (corpus.preprocess.fingerprint)

Slab k of the shorter sequence is compared with position ``scale * k + offset``
of the longer one (interpolated between its slabs), with the scale free within
[1/2, 2] (a rewritten z spacing) and the offset free (a crop). The best line is
found by voting: each slab of the shorter votes with its best-matching slab,
and the line through most votes is refined on a fine grid. A pair is a
duplicate when, along that line,

- the mean absolute difference per box is small (MAX_COST_HU; the same scan,
  resampled, stays within a few HU, other bodies differ by tens),
- it is distinctive: at most MAX_CONTRAST of the cost of the same line shifted
  by SHIFT_MM (a body that barely changes along z, a cylinder phantom, matches
  everything and proves nothing),
- and it overlaps enough: MIN_OVERLAP_MM and half of the shorter's body slabs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.preprocess.fingerprint import STEP_MM

SCALE_RANGE = (0.5, 2.0)
MAX_COST_HU = 8.0
MAX_CONTRAST = 0.3
SHIFT_MM = 15.0
MIN_OVERLAP_MM = 60.0
BOX_CAP_HU = 300.0  # a box differing by more counts as this much: one odd box cannot dominate
_SCALES = np.geomspace(*SCALE_RANGE, 97)
_REFINE_SCALES = np.exp(np.linspace(-0.02, 0.02, 5))  # the vote's scale steps are 1.5% apart
_REFINE_OFFSETS = np.linspace(-1.0, 1.0, 9)  # and it is good to a slab
_REFINE_ROUNDS = 3


@dataclass(frozen=True)
class Alignment:
    """The best line ``position in longer = scale * slab of shorter + offset`` (in slabs) and its evidence."""

    cost_hu: float
    contrast: float
    overlap_slabs: int
    scale: float
    offset: float
    shorter_slabs: int

    @property
    def is_duplicate(self) -> bool:
        enough = self.overlap_slabs >= needed_overlap(self.shorter_slabs)
        return enough and self.cost_hu <= MAX_COST_HU and self.contrast <= MAX_CONTRAST

    def evidence(self) -> dict[str, float]:
        return {
            "cost_hu": round(self.cost_hu, 2),
            "contrast": round(self.contrast, 3),
            "z_overlap_mm": round(self.overlap_slabs * STEP_MM, 1),
            "z_overlap_fraction": round(self.overlap_slabs / max(self.shorter_slabs, 1), 3),
            "z_scale": round(self.scale, 3),
        }


def needed_overlap(shorter_slabs: int) -> float:
    """Slab pairs an alignment must cover: MIN_OVERLAP_MM, and half the shorter's body slabs."""
    return max(MIN_OVERLAP_MM / STEP_MM, 0.5 * shorter_slabs)


def align(a: np.ndarray, b: np.ndarray) -> Alignment | None:
    """Align the shorter of two fingerprints (slabs x boxes, NaN rows = no body) onto the longer; None when
    no line overlaps enough to judge."""
    shorter, longer = (a, b) if _body_slabs(a) <= _body_slabs(b) else (b, a)
    body = _body_slabs(shorter)
    if body < needed_overlap(body) or len(longer) < 2:
        return None
    scale, offset = _vote(shorter, longer)
    cost, overlap = np.inf, 0
    for zoom in 0.5 ** np.arange(_REFINE_ROUNDS):  # the vote is good to a slab: search around it, finer each round
        found = _refine(shorter, longer, scale, offset, needed_overlap(body), zoom)
        if found[0] < cost:
            cost, overlap, scale, offset = found
    if not np.isfinite(cost):
        return None
    shifts = np.array(_shifts())
    shifted = float(_line_costs(shorter, longer, np.full(2, scale), offset + shifts)[0].min())
    contrast = cost / shifted if np.isfinite(shifted) and shifted > 0 else 1.0
    return Alignment(cost, float(contrast), overlap, scale, offset, body)


def _body_slabs(fingerprint: np.ndarray) -> int:
    return int(np.count_nonzero(~np.isnan(fingerprint[:, 0])))


def _shifts() -> tuple[float, float]:
    return -SHIFT_MM / STEP_MM, SHIFT_MM / STEP_MM


def _vote(shorter: np.ndarray, longer: np.ndarray) -> tuple[float, float]:
    """The (scale, offset) line through most (slab, best-matching slab) points, +-1 slab."""
    costs = np.minimum(np.abs(shorter[:, None, :] - longer[None, :, :]), BOX_CAP_HU).mean(axis=2)
    slabs = np.flatnonzero(~np.isnan(shorter[:, 0]))
    best = np.argmin(np.where(np.isnan(costs[slabs]), np.inf, costs[slabs]), axis=1)
    offsets = np.rint(best[None, :] - _SCALES[:, None] * slabs[None, :]).astype(np.int64)  # (scales, slabs)
    low = offsets.min()
    width = int(offsets.max() - low) + 3
    flat = (np.arange(len(_SCALES))[:, None] * width + offsets - low + 1).ravel()
    points = np.bincount(flat, minlength=len(_SCALES) * width).reshape(len(_SCALES), width)
    votes = points.copy()  # a point within one slab of the line counts
    votes[:, 1:] += points[:, :-1]
    votes[:, :-1] += points[:, 1:]
    rows, columns = np.nonzero(votes == votes.max())
    best = int(np.argmin(np.abs(np.log(_SCALES[rows]))))  # ties: the scale nearest 1, the commonest case
    return float(_SCALES[rows[best]]), float(columns[best] + low - 1)


def _refine(
    shorter: np.ndarray, longer: np.ndarray, scale: float, offset: float, needed: float, zoom: float
) -> tuple[float, int, float, float]:
    """The cheapest line on a grid around (scale, offset), ``zoom`` times the first round's, that overlaps enough."""
    scales, offsets = np.meshgrid(np.clip(scale * _REFINE_SCALES**zoom, *SCALE_RANGE), offset + _REFINE_OFFSETS * zoom)
    costs, overlaps = _line_costs(shorter, longer, scales.ravel(), offsets.ravel())
    costs[overlaps < needed] = np.inf
    best = int(np.argmin(costs))
    return float(costs[best]), int(overlaps[best]), float(scales.ravel()[best]), float(offsets.ravel()[best])


def _line_costs(
    shorter: np.ndarray, longer: np.ndarray, scales: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per line: mean capped box difference and overlap (slab pairs with body on both sides)."""
    positions = scales[:, None] * np.arange(len(shorter))[None, :] + offsets[:, None]  # (lines, slabs)
    inside = (positions >= 0) & (positions <= len(longer) - 1)
    low = np.clip(np.floor(positions).astype(np.intp), 0, len(longer) - 2)
    weight = np.clip(positions - low, 0.0, 1.0).astype(np.float32)[..., None]
    between = longer[low] * (1 - weight) + longer[low + 1] * weight  # NaN where either neighbour has no body
    difference = np.minimum(np.abs(between - shorter[None, :, :]), BOX_CAP_HU).mean(axis=2)
    valid = inside & ~np.isnan(difference)
    overlaps = valid.sum(axis=1)
    totals = np.where(valid, difference, 0.0).sum(axis=1)
    costs = np.where(overlaps >= 2, totals / np.maximum(overlaps, 1), np.inf)
    return costs, overlaps
