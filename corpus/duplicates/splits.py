"""Split integrity: one patient, or one scan, must not sit in two splits (train and test, say)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

from corpus.duplicates.links import SUBJECT_KEY

NEAR_DUPLICATE = "near_duplicate"


def split_leaks(rows: pa.Table, near_duplicates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups of stored volumes in more than one split that share a subject_key or form a near-duplicate group."""
    ids, splits = rows.column("volume_id").to_pylist(), rows.column("split").to_pylist()
    split_of = dict(zip(ids, splits, strict=True))
    by_subject: dict[str, list[str]] = defaultdict(list)
    for volume_id, subject in zip(ids, rows.column(SUBJECT_KEY).to_pylist(), strict=True):
        if subject:
            by_subject[subject].append(volume_id)
    candidates = [(SUBJECT_KEY, sorted(group)) for group in by_subject.values()]
    candidates += [(NEAR_DUPLICATE, group["volumes"]) for group in near_duplicates]
    leaks = []
    for rule, volumes in candidates:
        spanned = sorted({str(split_of[v]) for v in volumes})
        if len(spanned) > 1:
            leaks.append({"volumes": volumes, "splits": spanned, "rule": rule})
    return sorted(leaks, key=lambda leak: leak["volumes"])
