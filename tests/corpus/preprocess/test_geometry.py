"""End to end in millimetres: markers at known RAS positions land where they belong.

The phantom is defined in world coordinates, so each input below holds the
same object sampled with a different affine convention. After the build, the
intensity centroid of each marker (in the stored RAS grid) must sit at its
true world position within half a target voxel, and the stored grid must span
the input's field of view.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import corpus
from corpus.build import build_corpus
from corpus.phantom import affine_from, render, rotation_x, rotation_z
from corpus.sources import InputItem
from corpus.spec import BuildSpec
from tests.conftest import save_nifti

# In homogeneous soft tissue, at least 10 mm from organ edges and the field-of-view border.
MARKERS = [(3.0, -30.0, -40.0), (-31.5, 61.2, -27.3), (12.3, 44.1, 31.9)]
FOV_CENTRE = (0.0, 10.0, 5.0)
LPS = np.diag([-1.0, -1.0, 1.0])
PERMUTED = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # array axes (y, -z, -x)


def fov_shape(spacing: tuple[float, float, float], size_mm: float = 160.0) -> tuple[int, ...]:
    return tuple(int(np.ceil(size_mm / s)) for s in spacing)


CASES = {
    "ras_nifti": ((0.9, 0.8, 2.0), np.eye(3)),
    "lps_nifti": ((0.7, 0.7, 1.25), LPS),
    "permuted_nifti": ((2.5, 1.1, 0.9), PERMUTED),
    "oblique_nifti": ((1.1, 0.9, 1.7), rotation_z(23) @ rotation_x(-11)),
    "oblique_metaimage": ((0.8, 1.0, 2.2), rotation_x(14) @ rotation_z(-8)),
}


def write_case(folder: Path, name: str) -> tuple[Path, np.ndarray, tuple[int, ...]]:
    spacing, rotation = CASES[name]
    shape = fov_shape(spacing)
    affine = affine_from(spacing, rotation, FOV_CENTRE, shape)
    hu = np.rint(render(affine, shape, markers=MARKERS, noise_hu=0.0)).astype(np.int16)
    if name.endswith("metaimage"):
        path = folder / f"{name}.mha"
        write_with_simpleitk(path, hu, affine)
    else:
        path = save_nifti(folder / f"{name}.nii.gz", hu, affine)
    return path, affine, shape


def write_with_simpleitk(path: Path, array: np.ndarray, affine: np.ndarray) -> None:
    """An independent MetaImage writer (ITK, LPS world) for the same object."""
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image = sitk.GetImageFromArray(array.transpose(2, 1, 0))
    image.SetSpacing(spacing.tolist())
    image.SetDirection((lps[:3, :3] / spacing).ravel().tolist())
    image.SetOrigin(lps[:3, 3].tolist())
    sitk.WriteImage(image, str(path), useCompression=True)


def marker_centroid(stored: np.ndarray, affine: np.ndarray, expected: np.ndarray, radius_mm: float = 9.0) -> np.ndarray:
    """Intensity centroid (above the local tissue level) of the blob near ``expected``, in RAS mm."""
    index = np.stack(np.meshgrid(*[np.arange(n) for n in stored.shape], indexing="ij"), axis=-1).reshape(-1, 3)
    world = index @ affine[:3, :3].T + affine[:3, 3]
    near = np.linalg.norm(world - expected, axis=1) < radius_mm
    values = stored.reshape(-1)[near].astype(np.float64)
    weight = np.clip(values - np.median(values) - 300.0, 0.0, None)
    assert weight.sum() > 0, f"no marker found within {radius_mm} mm of {expected}"
    return (world[near] * weight[:, None]).sum(axis=0) / weight.sum()


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[corpus.Corpus, dict[str, tuple[np.ndarray, tuple[int, ...]]]]:
    folder = tmp_path_factory.mktemp("markers")
    geometry = {}
    items = []
    for name in CASES:
        path, affine, shape = write_case(folder, name)
        geometry[name] = (affine, shape)
        items.append(InputItem(path, "markers", path.name))
    out = folder / "corpus"
    report = build_corpus(items, str(out), BuildSpec(), progress=False)
    assert report.exit_code == 0, report.rows
    return corpus.open(str(out)), geometry


@pytest.mark.parametrize("name", list(CASES))
def test_markers_land_at_their_world_position(built, name):
    opened, _ = built
    volume_id = f"markers-{name}"
    array = opened.array(volume_id)
    affine = np.asarray(array.attrs["affine"])
    stored = opened.read(volume_id)
    for marker in MARKERS:
        found = marker_centroid(stored, affine, np.asarray(marker))
        error = np.linalg.norm(found - np.asarray(marker))
        assert error < 0.75, f"{name}: marker {marker} found at {found.round(2)} ({error:.2f} mm off)"


@pytest.mark.parametrize("name", list(CASES))
def test_stored_grid_spans_the_input_field_of_view(built, name):
    opened, geometry = built
    affine_in, shape_in = geometry[name]
    corners = np.array(
        [affine_in @ np.array([*c, 1.0]) for c in itertools.product(*[(-0.5, n - 0.5) for n in shape_in])]
    )
    low, high = corners[:, :3].min(axis=0), corners[:, :3].max(axis=0)
    row = next(r for r in opened.manifest.to_pylist() if r["volume_id"] == f"markers-{name}")
    origin, spacing, shape = (np.asarray(row[key]) for key in ("origin", "spacing", "shape"))
    stored_low = origin - spacing / 2
    stored_high = origin + (shape - 0.5) * spacing
    np.testing.assert_allclose(stored_low, low, atol=spacing[0] / 2 + 1e-6)
    np.testing.assert_allclose(stored_high, high, atol=spacing[0] / 2 + 1e-6)
    assert tuple(row["spacing"]) == (1.5, 1.5, 1.5)


def test_stored_arrays_are_ras_axis_aligned_int16(built):
    opened, _ = built
    for volume_id in opened.volume_ids:
        array = opened.array(volume_id)
        affine = np.asarray(array.attrs["affine"])
        assert array.dtype == np.int16
        np.testing.assert_allclose(affine[:3, :3], np.diag([1.5, 1.5, 1.5]))
        np.testing.assert_allclose(affine[:3, 3], array.attrs["origin"])
