"""`corpus leakage`: pre-training volumes found in a downstream set given as a list, a folder or another corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.build import build_corpus
from corpus.errors import EXIT_FATAL, EXIT_LEAKS, EXIT_OK
from corpus.privacy import SALT_ENV
from corpus.sources import discover
from corpus.spec import BuildSpec
from tests.conftest import save_nifti
from tests.corpus.conftest import run
from tests.corpus.duplicates.conftest import random_scan

SCAN_0 = {"a-patient_series", "b-relabelled", "d-cut"}  # + c's UID-named file (its id carries a digest)


def leaks_of(collections_corpus: str, *targets: str) -> tuple[int, list[dict[str, object]]]:
    arguments = [item for target in targets for item in ("--against", target)]
    code, output = run("leakage", collections_corpus, *arguments, "--json")
    return code, json.loads(output[output.index("[") :])


def leaking_volumes(leaks: list[dict[str, object]]) -> set[str]:
    return {str(leak["volume_id"]) for leak in leaks}


def test_a_list_file_names_the_test_volume_and_every_copy_of_it_leaks(collections_corpus, tmp_path):
    (tmp_path / "test.txt").write_text("# downstream test set\npatient/series\n")
    code, leaks = leaks_of(collections_corpus, str(tmp_path / "test.txt"))
    assert code == EXIT_LEAKS
    found = leaking_volumes(leaks)
    assert found >= SCAN_0 and len(found) == 4 and not any("other" in v for v in found)
    assert {leak["rule"] for leak in leaks} >= {"listed", "fingerprint"}


def test_a_json_data_list_section_is_a_downstream_set(collections_corpus, tmp_path):
    data = {"training": [{"image": "other1.nii.gz"}], "validation": [{"image": "patient/series"}]}
    (tmp_path / "split.json").write_text(json.dumps(data))
    code, leaks = leaks_of(collections_corpus, f"{tmp_path / 'split.json'}#validation")
    assert code == EXIT_LEAKS
    assert leaking_volumes(leaks) >= SCAN_0 and len(leaking_volumes(leaks)) == 4  # not a-other1: only validation


def test_a_folder_of_downstream_scans_is_built_and_compared(collections_corpus, four_collections):
    code, leaks = leaks_of(collections_corpus, str(four_collections / "d" / "cut.nii.gz"))
    assert code == EXIT_LEAKS
    assert leaking_volumes(leaks) >= SCAN_0 and len(leaking_volumes(leaks)) == 4
    assert any(leak["rule"] == "checksum" and leak["volume_id"] == "d-cut" for leak in leaks)  # same spec: same voxels


def test_another_corpus_with_its_own_salt_is_compared_by_content(collections_corpus, four_collections, tmp_path):
    out = str(tmp_path / "downstream")
    build_corpus(discover([four_collections / "b"], []), out, BuildSpec(), progress=False)
    code, leaks = leaks_of(collections_corpus, out)
    assert code == EXIT_LEAKS
    assert leaking_volumes(leaks) >= SCAN_0
    assert {"b-other2"} <= leaking_volumes(leaks)  # b's other body is in the downstream corpus too
    assert {leak["rule"] for leak in leaks} <= {"checksum", "fingerprint"}  # keys of another salt say nothing


def test_shared_salt_lets_subjects_and_series_be_compared(collections_corpus, four_collections, tmp_path, monkeypatch):
    monkeypatch.setenv(SALT_ENV, "one salt for both")
    pretraining, downstream = str(tmp_path / "pre"), str(tmp_path / "down")
    build_corpus(discover([four_collections / "c"], []), pretraining, BuildSpec(), progress=False)
    build_corpus(discover([four_collections / "a"], []), downstream, BuildSpec(), progress=False)
    code, leaks = leaks_of(pretraining, downstream)
    assert code == EXIT_LEAKS
    assert "series_key" in {leak["rule"] for leak in leaks}


def test_a_clean_downstream_set_exits_0(collections_corpus, tmp_path):
    save_nifti(tmp_path / "unseen.nii.gz", *random_scan(99))
    code, output = run("leakage", collections_corpus, "--against", str(tmp_path / "unseen.nii.gz"))
    assert code == EXIT_OK, output
    assert "no volume leaks" in output


def test_usage_and_fatal_errors(collections_corpus, tmp_path):
    assert run("leakage", collections_corpus)[0] == 2  # --against is required
    code, output = run("leakage", collections_corpus, "--against", str(tmp_path / "missing"))
    assert code == 2 and "no such corpus, list file, folder or image file" in output
    assert run("leakage", str(tmp_path / "not-a-corpus"), "--against", str(Path(collections_corpus)))[0] == EXIT_FATAL


@pytest.fixture(autouse=True)
def _no_user_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SALT_ENV, raising=False)
