"""One scan published four ways is found as one group; distinct bodies of one anatomy are never grouped."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow as pa
from click.testing import CliRunner

from corpus.cli import main
from corpus.duplicates.groups import near_duplicate_groups
from corpus.preprocess.fingerprint import content_fingerprint
from corpus.preprocess.normalize import normalize
from corpus.readers.volume import Volume
from corpus.spec import BuildSpec
from tests.corpus.duplicates.conftest import cropped, flipped_to_lps, random_scan, rewritten

DISTINCT = 52
FP_FN_SPEC = BuildSpec(spacing=(3.0, 3.0, 3.0))


def test_one_scan_as_dicom_relabelled_nifti_lps_metaimage_and_a_cut_is_one_group(collections_corpus):
    result = CliRunner().invoke(main, ["stats", collections_corpus, "--json"])
    groups = json.loads(result.output)["qc"]["near_duplicates"]
    assert len(groups) == 1, groups
    (group,) = groups
    assert [v.split("-")[0] for v in group["volumes"]] == ["a", "b", "c", "d"]
    assert not any("other" in v for v in group["volumes"])
    rules = {link["rule"] for link in group["evidence"]}
    assert "fingerprint" in rules and rules & {"series_key", "checksum"}  # the UID-named .mhd is the DICOM series
    for link in group["evidence"]:
        if link["rule"] == "fingerprint":
            assert link["cost_hu"] < 8 and link["z_overlap_fraction"] > 0.9


def stored_fingerprint(hu: np.ndarray, affine: np.ndarray) -> str:
    normalized = normalize(Volume(hu.astype(np.float32), affine, "nifti"), FP_FN_SPEC)
    return content_fingerprint(normalized.array, normalized.grid.spacing)["fingerprint"]


def test_false_positives_and_negatives_over_distinct_bodies_and_variants():
    """52 distinct bodies of one anatomy plan plus four variants each of two of them (60 volumes)."""
    rows, truth = [], []
    for seed in range(DISTINCT):
        hu, affine = random_scan(seed, spacing=(3.0, 3.0, 3.0))
        rows.append({"volume_id": f"body{seed:02d}", "fingerprint": stored_fingerprint(hu, affine)})
        if seed < 2:
            names = [f"body{seed:02d}"]
            for name, variant in (("relabelled", rewritten), ("lps", flipped_to_lps), ("cut", cropped)):
                rows.append(
                    {"volume_id": f"body{seed:02d}-{name}", "fingerprint": stored_fingerprint(*variant(hu, affine))}
                )
                names.append(rows[-1]["volume_id"])
            cut_relabelled = cropped(*rewritten(hu, affine), start=0.1)
            rows.append(
                {"volume_id": f"body{seed:02d}-cut-relabelled", "fingerprint": stored_fingerprint(*cut_relabelled)}
            )
            truth.append(set(names) | {rows[-1]["volume_id"]})
    table = pa.Table.from_pylist([{**row, "checksum": None, "series_key": None} for row in rows])
    groups = [set(group["volumes"]) for group in near_duplicate_groups(table)]
    together = {frozenset(pair) for group in groups for pair in itertools.combinations(group, 2)}
    expected = {frozenset(pair) for group in truth for pair in itertools.combinations(group, 2)}
    false_positives, false_negatives = len(together - expected), len(expected - together)
    print(
        f"\n{len(rows)} volumes, {len(expected)} duplicate pairs: {false_positives} false positive pairs, "
        f"{false_negatives} false negative pairs"
    )
    assert (false_positives, false_negatives) == (0, 0)
