"""The MetaImage reader and writer against SimpleITK's voxels and geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from corpus.errors import InputError, Reason
from corpus.readers import read_metaimage
from corpus.readers.metaimage import write_metaimage
from tests.corpus.readers.conftest import LPS_TO_RAS, oblique_affine


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
