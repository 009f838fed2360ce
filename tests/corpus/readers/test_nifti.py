"""The NIfTI reader against nibabel's scaled data and affine rules."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from corpus.errors import InputError, Reason
from corpus.readers import read_nifti
from tests.conftest import save_nifti
from tests.corpus.readers.conftest import oblique_affine


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64, np.uint8])
def test_nifti_voxels_equal_nibabel_scaled_data(tmp_path, dtype):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 120, size=(7, 6, 5)).astype(dtype)
    path = save_nifti(tmp_path / "v.nii.gz", data, oblique_affine())
    volume = read_nifti(path)
    reference = nib.load(path)
    np.testing.assert_allclose(volume.array, reference.get_fdata(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(volume.affine, reference.affine, atol=1e-5)


def test_nifti_slope_and_intercept_are_applied(tmp_path):
    hu = np.linspace(-1000, 2000, 7 * 6 * 5).reshape(7, 6, 5)
    image = nib.Nifti1Image(hu, np.eye(4))
    image.header.set_data_dtype(np.uint16)  # nibabel stores with a non-trivial slope and intercept
    nib.save(image, tmp_path / "scaled.nii")
    raw = nib.load(tmp_path / "scaled.nii")
    assert (raw.dataobj.slope, raw.dataobj.inter) != (1.0, 0.0)
    volume = read_nifti(tmp_path / "scaled.nii")
    np.testing.assert_allclose(volume.array, hu, atol=0.05)


def test_nifti_sform_wins_over_qform_as_in_nibabel(tmp_path):
    qform = np.diag([2.0, 2.0, 2.0, 1.0])
    sform = oblique_affine()
    image = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), None)
    image.set_qform(qform, code=1)
    image.set_sform(sform, code=2)
    nib.save(image, tmp_path / "both.nii.gz")
    np.testing.assert_allclose(read_nifti(tmp_path / "both.nii.gz").affine, sform, atol=1e-5)


def test_nifti_qform_only_is_used(tmp_path):
    affine = np.diag([-0.7, -0.7, 3.0, 1.0])
    path = save_nifti(tmp_path / "q.nii.gz", np.zeros((4, 4, 4), np.int16), affine, sform=False)
    np.testing.assert_allclose(read_nifti(path).affine, affine, atol=1e-6)


def test_nifti_trailing_singleton_axis_is_squeezed(tmp_path):
    path = save_nifti(tmp_path / "v4.nii.gz", np.ones((5, 4, 3, 1), np.int16), np.eye(4))
    assert read_nifti(path).shape == (5, 4, 3)


def test_nifti_with_several_frames_is_refused(tmp_path):
    path = save_nifti(tmp_path / "bad.nii.gz", np.ones((5, 4, 3, 2), np.int16), np.eye(4))
    with pytest.raises(InputError) as raised:
        read_nifti(path)
    assert raised.value.reason is Reason.NOT_3D


def test_a_2d_nifti_is_read_as_one_slice(tmp_path):
    """The build then skips it as too_few_slices, as a one-image DICOM stack."""
    path = save_nifti(tmp_path / "flat.nii.gz", np.ones((5, 4), np.int16), np.eye(4))
    assert read_nifti(path).shape == (5, 4, 1)


def test_truncated_nifti_is_truncated(tmp_path):
    path = save_nifti(tmp_path / "v.nii.gz", np.arange(64 * 64 * 16, dtype=np.int16).reshape(64, 64, 16), np.eye(4))
    data = gzip.decompress(path.read_bytes())
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(data[: len(data) // 2]))
    with pytest.raises(InputError) as raised:
        read_nifti(cut)
    assert raised.value.reason is Reason.TRUNCATED


def test_nan_voxels_are_refused(tmp_path):
    data = np.zeros((4, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    path = save_nifti(tmp_path / "nan.nii.gz", data, np.eye(4))
    with pytest.raises(InputError) as raised:
        read_nifti(path)
    assert raised.value.reason is Reason.NON_FINITE


@pytest.mark.parametrize("shape", [(7, 6, 5), (300, 200, 40), (30, 20, 10, 1)])
def test_background_decoding_gives_the_same_volume(tmp_path, shape):
    """Large enough that planes arrive in several steps; a trailing singleton axis too."""
    data = np.random.default_rng(2).integers(-1024, 3000, size=shape).astype(np.int16)
    path = save_nifti(tmp_path / "v.nii.gz", data, oblique_affine())
    volume = read_nifti(path, in_background=True)
    assert volume.arrival is not None
    volume.complete()
    assert np.array_equal(volume.array, read_nifti(path).array)
    np.testing.assert_allclose(volume.affine, read_nifti(path).affine)


def test_background_decoding_of_a_truncated_file_fails_as_truncated(tmp_path):
    data = np.random.default_rng(3).integers(-1024, 3000, size=(200, 100, 40)).astype(np.int16)
    good = save_nifti(tmp_path / "good.nii.gz", data, np.eye(4)).read_bytes()
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(good[: len(good) // 2])
    volume = read_nifti(path, in_background=True)
    with pytest.raises(InputError) as caught:
        volume.complete()
    assert caught.value.reason == Reason.TRUNCATED


def test_scaled_or_plain_files_decode_in_the_foreground(tmp_path):
    plain = save_nifti(tmp_path / "v.nii", np.zeros((4, 4, 4), np.int16), np.eye(4))
    scaled = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    scaled.header.set_slope_inter(2.0, -1024.0)
    nib.save(scaled, tmp_path / "s.nii.gz")
    assert read_nifti(plain, in_background=True).arrival is None
    assert read_nifti(tmp_path / "s.nii.gz", in_background=True).arrival is None
