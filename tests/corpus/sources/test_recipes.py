"""Recipes: synthetic trees shaped like each collection come out with the expected ids and splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.errors import SpecError
from corpus.phantom_dicom import SeriesSpec, write_series
from corpus.sources import discover
from corpus.sources.recipes import find_recipe, load_recipe, load_splits

LUNA_TRAIN = "1.3.6.1.4.1.14519.5.2.1.6279.6001.979083010707182900091062408058"
LUNA_VAL = "1.3.6.1.4.1.14519.5.2.1.6279.6001.227962600322799211676960828223"


def touch(root: Path, *paths: str) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"")


def found(name: str, root: Path) -> dict[str, str]:
    return {item.volume_id: item.split for item in discover([], [(name, root)])}


def test_btcv_as_distributed(tmp_path):
    touch(tmp_path, "RawData/Training/img/img0001.nii.gz", "RawData/Training/img/img0035.nii.gz")
    touch(tmp_path, "RawData/Training/label/label0001.nii.gz", "RawData/Testing/img/img0061.nii.gz", "README.txt")
    assert found("btcv", tmp_path) == {"btcv-img0001": "train", "btcv-img0035": "val", "btcv-img0061": "other"}


def test_tcia_covid19(tmp_path):
    touch(tmp_path, "data/volume-covid19-A-0269.nii.gz", "data/volume-covid19-A-0656.nii.gz", "data/notes.csv")
    assert found("tcia_covid19", tmp_path) == {
        "tcia_covid19-volume-covid19-A-0269": "train",
        "tcia_covid19-volume-covid19-A-0656": "val",
    }


@pytest.mark.parametrize(
    "layout",
    [
        [
            f"subset0/{LUNA_TRAIN}.mhd",
            f"subset0/{LUNA_TRAIN}.raw",
            f"subset3/{LUNA_VAL}.mhd",
            f"subset3/{LUNA_VAL}.raw",
        ],
        [f"subset_0/{LUNA_TRAIN}.nii.gz", f"subset_0/{LUNA_VAL}.nii.gz"],
    ],
    ids=["native", "nifti"],
)
def test_luna16_native_and_converted_match_on_the_series_uid(tmp_path, layout):
    touch(tmp_path, *layout, "annotations.csv", "seg-lungs-LUNA16/x.mhd")
    assert found("luna16", tmp_path) == {f"luna16-{LUNA_TRAIN}": "train", f"luna16-{LUNA_VAL}": "val"}


def test_totalsegmentator_ids_are_subject_folders(tmp_path):
    touch(tmp_path, "s0001/ct.nii.gz", "s0001/segmentations/liver.nii.gz", "s0042/ct.nii.gz", "meta.csv")
    assert found("totalsegmentator", tmp_path) == {"totalsegmentator-s0001": "train", "totalsegmentator-s0042": "train"}


def test_lidc_idri_dicom_tree(tmp_path):
    series = tmp_path / "LIDC-IDRI-0001" / "01-01-2000-30178" / "3000566.000000-03192"
    positions = [(0.0, 0.0, float(z)) for z in range(4)]
    write_series(series, SeriesSpec(8, 8, (1.0, 1.0), (1, 0, 0), (0, 1, 0), positions))
    (series / "069.xml").write_text("<LidcReadMessage/>")
    items = discover([], [("lidc_idri", tmp_path)])
    assert [(i.volume_id, i.split, len(i.slices)) for i in items] == [
        ("lidc_idri-LIDC-IDRI-0001_01-01-2000-30178_3000566.000000-03192", "train", 4)
    ]


def test_generic_takes_every_image(tmp_path):
    touch(tmp_path, "a/x.nii.gz", "b/y.mha", "c/z.txt")
    assert set(found("generic", tmp_path)) == {"generic-a_x", "generic-b_y"}


def test_a_user_recipe_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "mine.toml").write_text('include = ["*/scan.nii.gz"]\nid = "parent"\n')
    monkeypatch.setenv("CORPUS_RECIPES", str(tmp_path / "recipes"))
    touch(tmp_path / "data", "p1/scan.nii.gz", "p1/mask.nii.gz")
    assert found("mine", tmp_path / "data") == {"mine-p1": "train"}


def test_shipped_split_files_hold_the_paper_counts():
    counts = {}
    for name in ("btcv", "tcia_covid19", "luna16"):
        recipe = find_recipe(name)
        assert recipe is not None
        splits = list(recipe.splits.values())
        counts[name] = (splits.count("train"), splits.count("val"))
    assert counts == {"btcv": (24, 6), "tcia_covid19": (722, 49), "luna16": (843, 45)}


def test_bad_recipes_say_what_is_wrong(tmp_path):
    (tmp_path / "bad.toml").write_text('include = ["*"]\nid = "uuid"\n')
    with pytest.raises(SpecError, match="id must be one of"):
        load_recipe(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text('inlcude = ["*"]\n')
    with pytest.raises(SpecError, match="unknown keys"):
        load_recipe(tmp_path / "typo.toml")
    (tmp_path / "s.toml").write_text('train = ["a"]\nval = ["a"]\n')
    with pytest.raises(SpecError, match="both"):
        load_splits(tmp_path / "s.toml")
