"""Filters on manifest columns: parsed, never evaluated as Python, and evaluated by pyarrow with SQL's nulls."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from corpus.errors import SpecError
from corpus.filters import apply_filters, parse_filter
from corpus.store.manifest import SCHEMA, new_row

ROWS = [
    {
        "volume_id": "thin",
        "slice_thickness_mm": 1.0,
        "kernel": "B30f",
        "spacing_in": [0.7, 0.7, 1.0],
        "contrast": "yes",
    },
    {
        "volume_id": "thick",
        "slice_thickness_mm": 5.0,
        "kernel": "B70f",
        "spacing_in": [0.7, 0.7, 5.0],
        "contrast": "no",
    },
    {"volume_id": "unknown", "slice_thickness_mm": None, "kernel": None, "spacing_in": [1.0, 1.0, 2.0]},
    {"volume_id": "flagged", "slice_thickness_mm": 2.0, "kernel": "FC52", "suspect_non_ct": True},
]
TABLE = pa.Table.from_pylist([new_row(**row) for row in ROWS], schema=SCHEMA)


def kept(*filters: str) -> list[str]:
    return apply_filters(TABLE, filters).column("volume_id").to_pylist()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slice_thickness_mm <= 3", ["thin", "flagged"]),
        ("slice_thickness_mm <= 3 or slice_thickness_mm is null", ["thin", "unknown", "flagged"]),
        ("kernel not in ['B70f', \"FC52\"]", ["thin"]),  # an unknown kernel is not 'not B70f'
        ("kernel in ['B70f', 'FC52']", ["thick", "flagged"]),
        ("kernel is not null", ["thin", "thick", "flagged"]),
        ("spacing_in[2] > 1.5", ["thick", "unknown"]),
        ("contrast == 'yes' OR contrast == 'no'", ["thin", "thick"]),
        ("suspect_non_ct == true", ["flagged"]),
        ("slice_thickness_mm != 5", ["thin", "flagged"]),
        ("slice_thickness_mm >= 1e0", ["thin", "thick", "flagged"]),
    ],
)
def test_filters_keep_the_rows_they_describe(text, expected):
    assert kept(text) == expected


def test_several_filters_must_all_hold():
    assert kept("slice_thickness_mm <= 3", "kernel in ['FC52']") == ["flagged"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thickness <= 3", "no manifest column 'thickness'"),
        ("kernel == 3", "does not fit a column of type string"),
        ("spacing_in <= 3", "pick one as spacing_in[i]"),
        ("spacing_in[3] <= 3", "out of range"),
        ("kvp[0] > 1", "single value"),
        ("kvp <= 3 and kvp > 1", "expected 'or' or the end"),
        ("kernel in ['a'", "expected ',' or ']'"),
        ("kvp <=", "expected a value"),
        ("__import__('os').system('true')", "cannot read"),
        ("kvp; rm -rf /", "cannot read"),
    ],
)
def test_a_bad_filter_says_what_was_expected(text, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_filter(text)
