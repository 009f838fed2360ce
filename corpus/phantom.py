"""Analytic CT phantoms: anatomy defined in RAS millimetres, sampled on any grid.

Because the anatomy is a function of world position, the same body sampled
with LPS, permuted or oblique affines is the same object, which is what the
geometry tests and the demo need. HU values follow typical CT numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

AIR, FAT, SOFT, LUNG, LIVER, KIDNEY, BONE, MARKER = -1000.0, -100.0, 40.0, -850.0, 60.0, 30.0, 700.0, 2000.0
_SLAB_POINTS = 1 << 21


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    hu: float

    def inside(self, points: np.ndarray) -> np.ndarray:
        offset = (points - np.asarray(self.centre)) / np.asarray(self.radii)
        return np.einsum("ij,ij->i", offset, offset) <= 1.0


# A torso around the RAS origin: x = patient left, y = anterior, z = superior.
TORSO: tuple[Ellipsoid, ...] = (
    Ellipsoid((0, 0, 0), (170, 120, 1e6), FAT),
    Ellipsoid((0, 0, 0), (158, 108, 1e6), SOFT),
    Ellipsoid((-75, -5, 60), (58, 72, 110), LUNG),
    Ellipsoid((75, -5, 60), (55, 70, 110), LUNG),
    Ellipsoid((20, 35, 30), (48, 42, 45), SOFT),
    Ellipsoid((-70, 10, -70), (72, 62, 60), LIVER),
    Ellipsoid((-65, -55, -110), (25, 20, 50), KIDNEY),
    Ellipsoid((65, -55, -105), (25, 20, 50), KIDNEY),
    Ellipsoid((0, -78, 0), (17, 17, 1e6), BONE),
)


def random_torso(rng: np.random.Generator, lesions: int = 6) -> tuple[Ellipsoid, ...]:
    """Another body of the same plan: body shape, organ sizes, positions and densities drawn around TORSO,
    plus a few small lesions and vessels (what tells two patients of one anatomy apart)."""
    body = rng.uniform(0.85, 1.15, size=2)
    organs = [_jitter(organ, rng, body) for organ in TORSO[2:]]
    wall = Ellipsoid((0, 0, 0), (158 * body[0], 108 * body[1], 1e6), SOFT + rng.uniform(-10, 10))
    skin = Ellipsoid((0, 0, 0), (170 * body[0], 120 * body[1], 1e6), FAT + rng.uniform(-20, 20))
    return (skin, wall, *organs, *(_lesion(rng, body) for _ in range(lesions)))


def _jitter(organ: Ellipsoid, rng: np.random.Generator, body: np.ndarray) -> Ellipsoid:
    x, y, z = organ.centre
    centre = (x * body[0] + rng.uniform(-12, 12), y * body[1] + rng.uniform(-8, 8), z + rng.uniform(-25, 25))
    radii = tuple(r if r >= 1e5 else r * rng.uniform(0.8, 1.2) for r in organ.radii)
    return Ellipsoid(centre, (radii[0], radii[1], radii[2]), organ.hu + rng.uniform(-15, 15))


def _lesion(rng: np.random.Generator, body: np.ndarray) -> Ellipsoid:
    centre = (rng.uniform(-110, 110) * body[0], rng.uniform(-70, 70) * body[1], rng.uniform(-150, 150))
    radii = tuple(rng.uniform(4, 18, size=3))
    return Ellipsoid(centre, (radii[0], radii[1], radii[2]), float(rng.choice([-600.0, 0.0, 120.0, 300.0])))


def world_points(affine: np.ndarray, shape: Sequence[int], z_range: tuple[int, int]) -> np.ndarray:
    """RAS mm of the voxel centres of slab ``z_range`` of the last axis, as (N, 3), C order."""
    i, j, k = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), np.arange(*z_range), indexing="ij")
    index = np.stack([i.ravel(), j.ravel(), k.ravel(), np.ones(i.size)]).astype(np.float64)
    return (affine @ index)[:3].T


def render(
    affine: np.ndarray,
    shape: Sequence[int],
    markers: Sequence[tuple[float, float, float]] = (),
    marker_sigma_mm: float = 2.5,
    noise_hu: float = 15.0,
    seed: int = 0,
    anatomy: Sequence[Ellipsoid] = TORSO,
) -> np.ndarray:
    """Sample the anatomy (the torso unless given; plus Gaussian point markers) at each voxel centre, float32 HU."""
    out = np.empty(tuple(shape), dtype=np.float32)
    rng = np.random.default_rng(seed)
    slab = max(1, _SLAB_POINTS // (shape[0] * shape[1]))
    for z0 in range(0, shape[2], slab):
        z1 = min(z0 + slab, shape[2])
        points = world_points(affine, shape, (z0, z1))
        values = _anatomy(points, anatomy) + _markers(points, markers, marker_sigma_mm)
        if noise_hu:
            values += rng.normal(0.0, noise_hu, size=values.shape)
        out[:, :, z0:z1] = values.reshape(shape[0], shape[1], z1 - z0)
    return out


def _anatomy(points: np.ndarray, anatomy: Sequence[Ellipsoid]) -> np.ndarray:
    values = np.full(len(points), AIR)
    for organ in anatomy:
        values[organ.inside(points)] = organ.hu
    return values


def _markers(points: np.ndarray, markers: Sequence[tuple[float, float, float]], sigma: float) -> np.ndarray:
    """Gaussian blobs: their intensity centroid is the marker position, on any grid."""
    values = np.zeros(len(points))
    for marker in markers:
        squared = np.sum((points - np.asarray(marker)) ** 2, axis=1)
        values += MARKER * np.exp(-squared / (2 * sigma**2))
    return values


def affine_from(
    spacing: Sequence[float], rotation: np.ndarray, centre: Sequence[float], shape: Sequence[int]
) -> np.ndarray:
    """Voxel -> RAS affine with axis directions ``rotation`` (columns), centred on ``centre`` mm."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(rotation, dtype=np.float64) * np.asarray(spacing, dtype=np.float64)
    middle = (np.asarray(shape, dtype=np.float64) - 1) / 2
    affine[:3, 3] = np.asarray(centre, dtype=np.float64) - affine[:3, :3] @ middle
    return affine


def rotation_z(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_x(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
