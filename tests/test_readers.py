"""Readers against independent references: nibabel's scaled data, SimpleITK's geometry."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from corpus.errors import InputError, Reason
from corpus.readers import read_metaimage, read_nifti, read_volume
from corpus.readers.metaimage import write_metaimage
from tests.conftest import save_nifti

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def oblique_affine() -> np.ndarray:
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 0.9, 2.5])
    affine[:3, 3] = [-100.0, 20.0, 55.0]
    return affine


# ---------------------------------------------------------------- NIfTI


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


@pytest.mark.parametrize("shape", [(5, 4), (5, 4, 3, 2)])
def test_nifti_not_3d_is_refused(tmp_path, shape):
    path = save_nifti(tmp_path / "bad.nii.gz", np.ones(shape, np.int16), np.eye(4))
    with pytest.raises(InputError) as raised:
        read_nifti(path)
    assert raised.value.reason is Reason.NOT_3D


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


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.nii.gz", b"", Reason.EMPTY_FILE),
        ("text.nii.gz", b"this is not an image\n" * 20, Reason.UNREADABLE),
        ("text.mha", b"hello world\n", Reason.UNREADABLE),
        ("notes.txt", b"hello", Reason.UNSUPPORTED_FORMAT),
    ],
)
def test_non_images_fail_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        read_volume(path)
    assert raised.value.reason is reason
    assert str(raised.value)


# ---------------------------------------------------------------- MetaImage


def sitk_world_ras(image: sitk.Image, index: tuple[int, int, int]) -> np.ndarray:
    return LPS_TO_RAS @ np.asarray(image.TransformIndexToPhysicalPoint(index))


@pytest.mark.parametrize("name", ["v.mha", "v.mhd"])
@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("pixel", [np.int16, np.float32, np.uint16])
def test_metaimage_matches_simpleitk(tmp_path, name, compress, pixel):
    rng = np.random.default_rng(3)
    zyx = rng.integers(0, 3000, size=(5, 6, 7)).astype(pixel)
    image = sitk.GetImageFromArray(zyx)
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((12.0, -40.0, 300.5))
    direction = oblique_affine()[:3, :3] / np.array([0.8, 0.9, 2.5])
    image.SetDirection(direction.ravel().tolist())
    sitk.WriteImage(image, str(tmp_path / name), useCompression=compress)

    volume = read_metaimage(tmp_path / name)
    np.testing.assert_array_equal(volume.array, zyx.transpose(2, 1, 0))
    for index in [(0, 0, 0), (6, 0, 0), (0, 5, 0), (0, 0, 4), (3, 2, 1)]:
        world = volume.affine @ np.array([*index, 1.0])
        np.testing.assert_allclose(world[:3], sitk_world_ras(image, index), atol=1e-6)


def test_metaimage_writer_is_read_back_by_simpleitk(tmp_path):
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    affine = oblique_affine()
    write_metaimage(tmp_path / "w.mhd", array, affine)
    image = sitk.ReadImage(str(tmp_path / "w.mhd"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image).transpose(2, 1, 0), array)
    for index in [(0, 0, 0), (3, 4, 5), (1, 0, 2)]:
        np.testing.assert_allclose(sitk_world_ras(image, index), (affine @ np.array([*index, 1.0]))[:3], atol=1e-6)


def test_big_endian_metaimage(tmp_path):
    values = np.arange(24, dtype=">i2").reshape(2, 3, 4)  # (z, y, x) on disk
    header = (
        "NDims = 3\nDimSize = 4 3 2\nElementType = MET_SHORT\nElementByteOrderMSB = True\nElementDataFile = LOCAL\n"
    )
    (tmp_path / "be.mha").write_bytes(header.encode() + values.tobytes())
    volume = read_metaimage(tmp_path / "be.mha")
    np.testing.assert_array_equal(volume.array, values.astype(np.int16).transpose(2, 1, 0))


def test_truncated_metaimage_is_truncated(tmp_path):
    image = sitk.GetImageFromArray(np.ones((8, 8, 8), np.int16))
    sitk.WriteImage(image, str(tmp_path / "v.mha"))
    data = (tmp_path / "v.mha").read_bytes()
    (tmp_path / "cut.mha").write_bytes(data[: len(data) - 100])
    with pytest.raises(InputError) as raised:
        read_metaimage(tmp_path / "cut.mha")
    assert raised.value.reason is Reason.TRUNCATED


def test_absurd_dimensions_are_refused_before_allocation(tmp_path):
    header = "NDims = 3\nDimSize = 100000 100000 100000\nElementType = MET_SHORT\nElementDataFile = LOCAL\n"
    (tmp_path / "huge.mha").write_bytes(header.encode() + b"\0" * 16)
    with pytest.raises(InputError) as raised:
        read_metaimage(tmp_path / "huge.mha")
    assert raised.value.reason is Reason.TOO_LARGE


def test_missing_raw_file_is_unreadable(tmp_path):
    (tmp_path / "v.mhd").write_text("NDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\nElementDataFile = v.raw\n")
    with pytest.raises(InputError) as raised:
        read_metaimage(tmp_path / "v.mhd")
    assert raised.value.reason is Reason.UNREADABLE
    assert "v.raw" in str(raised.value)


def test_input_bytes_count_the_raw_companion(tmp_path):
    write_metaimage(tmp_path / "v.mhd", np.zeros((3, 3, 3), np.int16), np.eye(4), compress=False)
    volume = read_metaimage(tmp_path / "v.mhd")
    expected = (tmp_path / "v.mhd").stat().st_size + (tmp_path / "v.raw").stat().st_size
    assert volume.input_bytes == expected
