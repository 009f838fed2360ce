"""Real TotalSegmentator NIfTI against an independent MONAI reference chain."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import corpus
from corpus.build import build_corpus
from corpus.sources import InputItem
from corpus.spec import BuildSpec

CLIP = (-1024, 3071)


def monai_reference(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """LoadImage -> EnsureChannelFirst -> Orientation(RAS) -> Spacing(1.5, bilinear) -> clip."""
    from monai.transforms import Compose, EnsureChannelFirst, LoadImage, Orientation, Spacing

    chain = Compose(
        [LoadImage(image_only=True), EnsureChannelFirst(), Orientation("RAS"), Spacing((1.5,) * 3, mode="bilinear")]
    )
    image = chain(str(path))
    return np.clip(image[0].numpy(), *CLIP), np.asarray(image.affine)


@pytest.fixture(scope="module")
def totalseg_corpus(tmp_path_factory: pytest.TempPathFactory) -> corpus.Corpus:
    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / "totalsegmentator"
    if not folder.is_dir():
        pytest.skip(f"real CT test data not found at {folder}")
    items = [InputItem(path, "totalseg", path.name) for path in sorted(folder.glob("*.nii.gz"))]
    out = tmp_path_factory.mktemp("totalseg") / "corpus"
    report = build_corpus(items, str(out), BuildSpec(), progress=False)
    assert report.exit_code == 0, report.rows
    return corpus.open(str(out))


@pytest.mark.parametrize("name", ["abdomen_3mm_int32", "abdomen_3mm_small", "chest_1p5mm_lps"])
def test_matches_monai_within_5_hu(totalseg_corpus, shared_ct, name):
    ours = totalseg_corpus.read(f"totalseg-{name}")
    origin = np.asarray(totalseg_corpus.array(f"totalseg-{name}").attrs["origin"])
    reference, affine = monai_reference(shared_ct / "totalsegmentator" / f"{name}.nii.gz")
    assert np.all(np.abs(np.subtract(ours.shape, reference.shape)) <= 1), (ours.shape, reference.shape)
    np.testing.assert_allclose(np.diag(affine)[:3], 1.5)
    # Overlap by world position: offset of MONAI's voxel 0 in our grid, in whole voxels.
    offset = np.rint((affine[:3, 3] - origin) / 1.5).astype(int)
    ours_part, reference_part = overlap(ours, reference, offset)
    assert ours_part.size > 0.9 * reference.size
    assert np.mean(np.abs(ours_part.astype(np.float64) - reference_part)) < 5.0


def overlap(ours: np.ndarray, reference: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    start = np.maximum(offset, 0)
    stop = np.minimum(np.asarray(ours.shape), offset + np.asarray(reference.shape))
    ours_slices = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    reference_slices = tuple(slice(a - o, b - o) for a, b, o in zip(start, stop, offset, strict=True))
    return ours[ours_slices], reference[reference_slices]


def test_chest_at_target_spacing_keeps_every_voxel(totalseg_corpus, shared_ct):
    """Already at 1.5 mm: the build only reorients (LPS -> RAS), no value may change."""
    canonical = nib.as_closest_canonical(nib.load(shared_ct / "totalsegmentator" / "chest_1p5mm_lps.nii.gz"))
    expected = np.clip(np.asarray(canonical.dataobj), *CLIP).astype(np.int16)
    stored = totalseg_corpus.read("totalseg-chest_1p5mm_lps")
    np.testing.assert_array_equal(stored, expected)
    origin = totalseg_corpus.array("totalseg-chest_1p5mm_lps").attrs["origin"]
    np.testing.assert_allclose(origin, canonical.affine[:3, 3], atol=1e-4)


def test_int32_input_is_stored_as_clipped_int16(totalseg_corpus):
    row = next(r for r in totalseg_corpus.manifest.to_pylist() if r["volume_id"] == "totalseg-abdomen_3mm_int32")
    assert row["shape_in"] == [122, 101, 112]
    assert row["spacing_in"] == pytest.approx([3.0, 3.0, 3.0])
    stored = totalseg_corpus.read("totalseg-abdomen_3mm_int32")
    assert stored.dtype == np.int16
    assert stored.min() >= CLIP[0] and stored.max() <= CLIP[1]
    assert stored.max() == CLIP[1]  # the input reaches 3382 HU: clipped, not wrapped
