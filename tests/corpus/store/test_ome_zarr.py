"""Every stored volume is an OME-Zarr 0.5 image a validator accepts, and naming its axes changes no voxel."""

from __future__ import annotations

import numpy as np
import ome_zarr_models
import zarr
from ome_zarr_models.v05.image import Image

from corpus.preprocess.grid import Grid
from corpus.spec import BuildSpec
from corpus.store.arrays import ARRAY_NAME, checksum, open_shard, write_volume
from corpus.store.storage_layout import StorageLayout
from tests.corpus.conftest import run_build


def test_every_volume_of_a_build_validates_as_ome_zarr_0_5(scans, tmp_path):
    out = tmp_path / "corpus"
    run_build(scans, out)
    folders = sorted((out / "shards").glob("shard-*.zarr/*/"))
    assert len(folders) == 7
    for folder in folders:
        image = ome_zarr_models.open_ome_zarr(zarr.open_group(zarr.storage.LocalStore(folder), mode="r"))
        assert isinstance(image, Image)
        (multiscale,) = image.ome_attributes.multiscales
        assert [axis.name for axis in multiscale.axes] == ["x", "y", "z"]


def test_axis_names_change_no_stored_byte(tmp_path):
    array = np.random.default_rng(0).integers(-1024, 3071, size=(40, 30, 20)).astype(np.int16)
    grid, spec, layout = Grid(array.shape, (1.5, 1.5, 1.5), (0.0, 0.0, 0.0)), BuildSpec(), StorageLayout()
    stored = write_volume(open_shard(zarr.storage.LocalStore(tmp_path), layout), "v", array, grid, spec, layout)
    read = zarr.open_array(zarr.storage.LocalStore(tmp_path), path=f"v/{ARRAY_NAME}", mode="r")
    assert read.metadata.dimension_names == ("x", "y", "z")
    assert stored.checksum == checksum(array) == checksum(np.asarray(read[...]))
    chunk = next(path for path in (tmp_path / "v" / ARRAY_NAME / "c").rglob("*") if path.is_file())
    plain = zarr.create_array(
        zarr.storage.LocalStore(tmp_path / "plain"),
        shape=read.shape,
        chunks=read.chunks,
        shards=read.shards,
        dtype="int16",
        compressors=read.compressors,
        fill_value=spec.fill_value,
    )
    plain[...] = array
    plain_chunk = next(path for path in (tmp_path / "plain" / "c").rglob("*") if path.is_file())
    assert chunk.read_bytes() == plain_chunk.read_bytes()
