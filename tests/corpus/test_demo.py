"""`corpus demo`: phantoms of every supported kind -> a corpus that opens and reads back."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

import corpus
from corpus.cli import main
from corpus.demo import DEMO_CASES, write_phantoms
from corpus.phantom import LUNG, SOFT
from corpus.stats import audit


def test_demo_builds_every_phantom_and_anatomy_sits_where_the_phantom_put_it(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"{len(DEMO_CASES) + 1} stored" in result.output  # + the DICOM series
    assert "quality flags:" in result.output
    for method in ("voco", "pcrlv2"):  # the demo ends with a few pre-training steps of each method
        assert f"{method}: loss " in result.output
        assert (tmp_path / "pretrain" / method / "export" / "encoder.pt").exists()
    summary = audit(corpus.open(str(tmp_path / "corpus")))
    grouped = sum(len(group["volumes"]) for group in summary["qc"]["near_duplicates"])
    # shown without asking: acquisition from the DICOM headers and the sidecar, the duplicate group, the split leak
    acquisition = summary["total"]["acquisition"]
    assert acquisition["manufacturer"] == {"unknown": len(DEMO_CASES) - 1, "GE": 1, "SIEMENS": 1}
    assert acquisition["kvp"] == {"100": 1, "120": 1, "unknown": len(DEMO_CASES) - 1}
    assert acquisition["contrast"]["yes"] == 1 and acquisition["acquisition_type"]["helical"] == 2
    (leak,) = summary["qc"]["split_leaks"]
    assert leak["rule"] == "near_duplicate" and sorted(leak["splits"]) == ["train", "val"]
    assert "phantoms-luna_style" in leak["volumes"]
    assert "SIEMENS 1" in result.output and "split_leaks                1" in result.output
    # three plots, three thumbnails per volume, again for volumes in near-duplicate groups (one body, several grids)
    assert (tmp_path / "audit.html").read_text().count("data:image/png") == 3 + 3 * (len(DEMO_CASES) + 1 + grouped)
    opened = corpus.open(str(tmp_path / "corpus"))
    assert len(opened.volume_ids) == len(DEMO_CASES) + 1
    formats = {row["input_format"] for row in opened.manifest.to_pylist()}
    assert formats == {"nifti", "metaimage", "dicom"}
    lungs_checked = 0
    for volume_id in opened.volume_ids:
        # Every phantom has soft tissue at RAS (0, 0, 0), and the right lung (patient
        # right = -x) at (-75, -5, 60) when the scan reaches that high.
        assert _near(_hu_at(opened, volume_id, (0.0, 0.0, 0.0)), SOFT), volume_id
        origin = np.asarray(opened.array(volume_id).attrs["origin"])
        top = origin[2] + (opened.array(volume_id).shape[2] - 1) * 1.5
        if top > 75:
            assert _near(_hu_at(opened, volume_id, (-75.0, -5.0, 60.0)), LUNG), volume_id
            lungs_checked += 1
    assert lungs_checked >= 3


def _hu_at(opened: corpus.Corpus, volume_id: str, ras: tuple[float, float, float]) -> float:
    origin = np.asarray(opened.array(volume_id).attrs["origin"])
    index = np.rint((np.asarray(ras) - origin) / 1.5).astype(int)
    region = opened.read(volume_id, [(i - 2, i + 3) for i in index])
    return float(np.median(region))


def _near(value: float, expected: float) -> bool:
    return abs(value - expected) < 40


def test_without_training_installed_the_demo_says_so(monkeypatch, capsys, tmp_path):
    import corpus.cli

    monkeypatch.setattr(corpus.cli, "entry_points", lambda group: [])
    corpus.cli._demo_steps(tmp_path)
    assert "no further demo steps installed" in capsys.readouterr().out


def test_demo_dicom_series_is_written_byte_for_byte_the_same_on_every_run(tmp_path, monkeypatch):
    # A rerun of the demo rewrites its inputs; identical files keep the series key and let the build skip them.
    monkeypatch.setattr("corpus.demo.DEMO_CASES", ())  # the NIfTI/MetaImage phantoms are seeded already
    (series,) = write_phantoms(tmp_path / "a")
    write_phantoms(tmp_path / "b")
    files = sorted(series.iterdir())
    assert len(files) == 70
    for path in files:
        assert (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes() == path.read_bytes(), path.name
