"""Split integrity: a patient or a scan in two splits is flagged, with the rule that joins them."""

from __future__ import annotations

import pyarrow as pa

from corpus.duplicates.splits import split_leaks


def test_a_subject_or_a_duplicate_group_across_splits_is_a_leak():
    rows = pa.Table.from_pylist(
        [
            {"volume_id": "a", "split": "train", "subject_key": "p1"},
            {"volume_id": "b", "split": "test", "subject_key": "p1"},
            {"volume_id": "c", "split": "train", "subject_key": "p2"},
            {"volume_id": "d", "split": "train", "subject_key": "p2"},
            {"volume_id": "e", "split": "val", "subject_key": None},
            {"volume_id": "f", "split": "train", "subject_key": None},
        ]
    )
    near = [{"volumes": ["e", "f"], "evidence": []}, {"volumes": ["c", "d"], "evidence": []}]
    assert split_leaks(rows, near) == [
        {"volumes": ["a", "b"], "splits": ["test", "train"], "rule": "subject_key"},
        {"volumes": ["e", "f"], "splits": ["train", "val"], "rule": "near_duplicate"},
    ]
