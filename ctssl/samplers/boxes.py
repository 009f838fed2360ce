"""Axis-aligned voxel boxes and where a region goes inside a volume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Box:
    """Voxels ``start[i] <= v < start[i] + size[i]`` on each axis (x, y, z)."""

    start: Shape
    size: Shape

    @property
    def stop(self) -> Shape:
        x, y, z = (s + n for s, n in zip(self.start, self.size, strict=True))
        return x, y, z

    @property
    def volume(self) -> int:
        return int(np.prod(self.size))

    def bounds(self) -> list[tuple[int, int]]:
        """((x0, x1), (y0, y1), (z0, z1)), as ``corpus.Corpus.read`` takes them."""
        return [(s, e) for s, e in zip(self.start, self.stop, strict=True)]

    def shifted(self, offset: Sequence[int]) -> Box:
        x, y, z = (s + o for s, o in zip(self.start, offset, strict=True))
        return Box((x, y, z), self.size)

    def contains(self, other: Box) -> bool:
        return all(a <= b and c >= d for a, b, c, d in zip(self.start, other.start, self.stop, other.stop, strict=True))

    def as_row(self) -> list[int]:
        return [*self.start, *self.size]


def intersection_volume(a: Box, b: Box) -> int:
    sides = [max(0, min(x1, y1) - max(x0, y0)) for x0, x1, y0, y1 in zip(a.start, a.stop, b.start, b.stop, strict=True)]
    return int(np.prod(sides))


def iou(a: Box, b: Box) -> float:
    inter = intersection_volume(a, b)
    return inter / (a.volume + b.volume - inter)


def enclosing(boxes: Sequence[Box]) -> Box:
    """The minimal box holding every box."""
    start = np.min([b.start for b in boxes], axis=0)
    stop = np.max([b.stop for b in boxes], axis=0)
    return _box(start, stop - start)


def place(
    rng: np.random.Generator, size: Sequence[int], volume_shape: Sequence[int], body_bbox: Sequence[int] | None
) -> Box:
    """A box of ``size`` inside the body bounding box when it fits, else covering it.

    ``body_bbox`` is (x0, y0, z0, x1, y1, z1) in voxels (None: the whole volume).
    On an axis where the body is shorter than the box, the box covers the body
    and reaches outside it (and possibly outside the volume: read as air).
    """
    first, last = start_range(size, volume_shape, body_bbox)
    return _box(rng.integers(first, last + 1), np.asarray(size))


def start_range(
    size: Sequence[int], volume_shape: Sequence[int], body_bbox: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest start per axis that :func:`place` may choose."""
    low = np.zeros(3, dtype=np.int64) if body_bbox is None else np.asarray(body_bbox[:3])
    high = np.asarray(volume_shape) if body_bbox is None else np.asarray(body_bbox[3:])
    size_array = np.asarray(size)
    return np.minimum(low, high - size_array), np.maximum(low, high - size_array)


def _box(start: np.ndarray, size: np.ndarray) -> Box:
    return Box((int(start[0]), int(start[1]), int(start[2])), (int(size[0]), int(size[1]), int(size[2])))
