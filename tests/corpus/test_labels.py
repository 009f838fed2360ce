"""Label maps stored beside their images: same grid, nearest neighbour, names, manifest columns, stats."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import corpus
from corpus.stats import audit, format_text
from tests.conftest import save_nifti
from tests.corpus.conftest import run

# TotalSegmentator v2 class map, the organs the real-data check reports on
TOTALSEG = {1: "spleen", 2: "kidney_right", 3: "kidney_left", 5: "liver", 6: "stomach"}


def _pair(root: Path, image: np.ndarray, labels: np.ndarray, affine: np.ndarray, label_affine: np.ndarray) -> None:
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(exist_ok=True)
    save_nifti(root / "imagesTr" / "img0001.nii.gz", image, affine)
    save_nifti(root / "labelsTr" / "label0001.nii.gz", labels, label_affine)


def _boxes(shape: tuple[int, int, int]) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.uint8)
    labels[4:12, 5:15, 2:8] = 1
    labels[14:20, 3:9, 5:11] = 2
    return labels


def test_btcv_pairs_are_stored_on_the_image_grid_by_nearest_neighbour(tmp_path: Path) -> None:
    shape, affine = (24, 20, 12), np.diag([3.0, 3.0, 3.0, 1.0])
    image = np.full(shape, 40, dtype=np.int16)
    _pair(tmp_path / "btcv", image, _boxes(shape), affine, affine)
    (tmp_path / "btcv" / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "a", "2": "b"}}))
    out = tmp_path / "out"
    code, output = run(
        "build",
        str(tmp_path / "btcv" / "imagesTr"),
        "--out",
        str(out),
        "--labels",
        str(tmp_path / "btcv" / "labelsTr"),
        "--spacing",
        "1.5",
    )
    assert code == 0, output
    opened = corpus.open(str(out))
    (row,) = opened.stored().to_pylist()
    labels = opened.read_labels(row["volume_id"])
    assert labels.dtype == np.uint8 and labels.shape == opened.read(row["volume_id"]).shape == (47, 39, 23)
    # 3 mm -> 1.5 mm: output voxel 2i sits on input voxel i; odd ones tie and round up to i + 1
    assert labels[6, 10, 4] == 0 and labels[7, 10, 4] == 1 and labels[22, 10, 4] == 1 and labels[23, 10, 4] == 0
    assert set(np.unique(labels)) == {0, 1, 2}
    assert row["has_labels"] and row["label_set"] == [1, 2]
    assert row["label_voxels"] == [int((labels == 1).sum()), int((labels == 2).sum())]
    assert opened.label_names(row["volume_id"]) == {0: "background", 1: "a", 2: "b"}
    assert opened.read_labels(row["volume_id"], ((-2, 3), (0, 2), (0, 1)))[:2].max() == 0


def test_uint16_labels_and_the_recipe_pairing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shape, affine = (16, 16, 8), np.diag([1.5, 1.5, 1.5, 1.0])
    labels = _boxes(shape).astype(np.uint16) * 300
    _pair(tmp_path / "btcv", np.zeros(shape, dtype=np.int16), labels, affine, affine)
    code, output = run("build", "--source", f"btcv={tmp_path / 'btcv'}", "--out", str(tmp_path / "out"))
    assert code == 0, output
    opened = corpus.open(str(tmp_path / "out"))
    (row,) = opened.stored().to_pylist()
    assert row["label_set"] == [300, 600], "the label file itself must not become an input"
    stored = opened.read_labels(row["volume_id"])
    assert stored.dtype == np.uint16 and np.array_equal(stored, labels)


def test_a_label_map_on_another_grid_fails_with_a_reason(tmp_path: Path) -> None:
    shape, affine = (16, 16, 8), np.diag([2.0, 2.0, 2.0, 1.0])
    moved = affine.copy()
    moved[0, 3] = 2.0  # one voxel off
    _pair(tmp_path / "b", np.zeros(shape, dtype=np.int16), _boxes(shape), affine, moved)
    code, _ = _build_pair(tmp_path)
    assert code == 3
    (row,) = corpus.open(str(tmp_path / "out")).manifest.to_pylist()
    assert (row["status"], row["reason"]) == ("failed", "label_geometry") and "2 mm" in row["message"]


def test_stats_reports_voxels_and_millilitres_per_label(tmp_path: Path) -> None:
    shape, affine = (16, 16, 8), np.diag([1.5, 1.5, 1.5, 1.0])
    _pair(tmp_path / "b", np.zeros(shape, dtype=np.int16), _boxes(shape), affine, affine)
    (tmp_path / "b" / "labelsTr" / "labels.json").write_text(json.dumps({"labels": {"a": 1, "b": 2}}))
    _build_pair(tmp_path)
    report = audit(corpus.open(str(tmp_path / "out")))
    assert report["labels"]["1"] == {"names": ["a"], "volumes": 1, "voxels": 480, "ml": round(480 * 1.5**3 / 1000, 3)}
    assert report["labels"]["2"]["voxels"] == 2 * 6 * 3  # the box cut by the volume's edge
    assert "1.6" in format_text(report) and " a " in format_text(report)


def _reference_grid(opened: corpus.Corpus, volume_id: str) -> sitk.Image:
    """Our stored grid as SimpleITK sees space (LPS): RAS origin flipped in x and y, direction diag(-1, -1, 1)."""
    row = opened.stored().to_pylist()[opened.volume_ids.index(volume_id)]
    grid = sitk.Image([int(n) for n in row["shape"]], sitk.sitkUInt8)
    grid.SetSpacing(row["spacing"])
    x, y, z = row["origin"]
    grid.SetOrigin((-x, -y, z))
    grid.SetDirection((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    return grid


def test_real_label_map_matches_simpleitk_nearest_neighbour(shared_ct: Path, tmp_path: Path) -> None:
    scan = shared_ct / "totalsegmentator"
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "abdomen.nii.gz").symlink_to(scan / "abdomen_3mm_small.nii.gz")
    (tmp_path / "labels" / "abdomen.nii.gz").symlink_to(scan / "abdomen_3mm_small_labels.nii.gz")
    code, output = run(
        "build", str(tmp_path / "images"), "--out", str(tmp_path / "out"), "--labels", str(tmp_path / "labels")
    )
    assert code == 0, output
    opened = corpus.open(str(tmp_path / "out"))
    (volume_id,) = opened.volume_ids
    ours = opened.read_labels(volume_id)
    reference = sitk.Resample(
        sitk.ReadImage(str(scan / "abdomen_3mm_small_labels.nii.gz")),
        _reference_grid(opened, volume_id),
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        0,
    )
    expected = sitk.GetArrayFromImage(reference).transpose(2, 1, 0)
    agreement = float((ours == expected).mean())
    print(f"voxel agreement with SimpleITK nearest neighbour: {agreement:.6%} of {ours.size} voxels")
    source = nib.load(scan / "abdomen_3mm_small_labels.nii.gz")
    # 3 mm -> 1.5 mm puts every other target voxel exactly halfway between two input voxels; a
    # disagreement may only sit on such a tie, where float noise in either computation decides
    assert agreement >= 0.999
    row = opened.stored().to_pylist()[0]
    grid = np.diag([*row["spacing"], 1.0])
    grid[:3, 3] = row["origin"]
    index_map = np.linalg.inv(source.affine) @ grid
    differing = np.argwhere(ours != expected)
    continuous = (index_map[:3, :3] @ differing.T + index_map[:3, 3:]).T
    assert np.all(np.any(np.abs(continuous % 1 - 0.5) < 1e-3, axis=1)), "a disagreement away from a tie"
    input_ml = float(np.prod(source.header.get_zooms()[:3])) / 1000.0
    stored_ml = float(np.prod(row["spacing"])) / 1000.0
    counts_in = np.bincount(np.asarray(source.dataobj).astype(np.int64).ravel())
    counts_out = np.bincount(ours.astype(np.int64).ravel(), minlength=len(counts_in))
    for value, name in TOTALSEG.items():
        before, after = counts_in[value] * input_ml, counts_out[value] * stored_ml
        print(f"{name}: input {before:.1f} mL, stored {after:.1f} mL")
        # 3 mm -> 1.5 mm nearest neighbour grows each object by up to half an input voxel on the upper
        # faces and shrinks it by as much below the first slice: a few percent for organs this size
        assert abs(after - before) <= 0.04 * before, name


def _build_pair(tmp_path: Path) -> tuple[int, str]:
    """Build tmp_path/b's images with its label folder into tmp_path/out."""
    images, labels = tmp_path / "b" / "imagesTr", tmp_path / "b" / "labelsTr"
    return run("build", str(images), "--out", str(tmp_path / "out"), "--labels", str(labels))
