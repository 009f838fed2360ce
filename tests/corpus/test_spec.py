from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus.errors import CorpusError, SpecError
from corpus.spec import BuildSpec, DicomSelection, format_clip, format_spacing, parse_clip, parse_spacing

spacings = st.tuples(*[st.floats(0.1, 10.0, allow_nan=False)] * 3)
clips = st.tuples(st.integers(-32768, 0), st.integers(1, 32767))


@given(spacing=spacings, clip=clips)
def test_spec_round_trips_through_dict_and_keeps_its_hash(spacing, clip):
    spec = BuildSpec(spacing=spacing, clip=clip)
    again = BuildSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.hash() == spec.hash()


@given(spacing=spacings, clip=clips)
def test_what_the_cli_shows_parses_back(spacing, clip):
    assert parse_spacing(format_spacing(spacing)) == pytest.approx(spacing, rel=1e-5)
    assert parse_clip(format_clip(clip)) == clip
    assert format_spacing((1.5, 1.5, 1.5)) == "1.5" and format_spacing((1.25, 1.25, 5.0)) == "1.25,1.25,5"


def test_the_hash_guards_what_the_voxels_mean_and_nothing_else():
    assert set(BuildSpec().to_dict()) == {"spacing", "clip", "interpolation", "orientation", "dtype"}


def test_hash_is_stable_and_changes_with_content():
    assert BuildSpec().hash() == BuildSpec(spacing=(1.5, 1.5, 1.5), clip=(-1024, 3071)).hash()
    assert BuildSpec().hash() != BuildSpec(spacing=(1.25, 1.25, 5.0)).hash()
    assert BuildSpec().hash() != BuildSpec(clip=(-1000, 1000)).hash()


def test_defaults_match_design():
    spec = BuildSpec()
    assert spec.spacing == (1.5, 1.5, 1.5)
    assert spec.clip == (-1024, 3071)
    assert spec.fill_value == -1024


@pytest.mark.parametrize(
    ("text", "expected"), [("1.5", (1.5, 1.5, 1.5)), ("1.25,1.25,5", (1.25, 1.25, 5.0)), (" 2 , 2, 2", (2.0, 2.0, 2.0))]
)
def test_parse_spacing(text, expected):
    assert parse_spacing(text) == expected


@pytest.mark.parametrize("text", ["", "a", "1,2", "1,2,3,4"])
def test_parse_spacing_rejects_garbage_with_the_value_in_the_message(text):
    with pytest.raises(SpecError, match="Spacing"):
        parse_spacing(text)


@pytest.mark.parametrize(
    "kwargs",
    [{"spacing": (1.5, 0.0, 1.5)}, {"spacing": (1.5, -1, 1.5)}, {"clip": (100, 100)}, {"clip": (-40000, 0)}],
)
def test_invalid_specs_are_refused(kwargs):
    with pytest.raises(SpecError) as raised:
        BuildSpec(**kwargs)
    assert isinstance(raised.value, CorpusError)
    assert isinstance(raised.value, ValueError)


def test_parse_clip():
    assert parse_clip("-1000,1000") == (-1000, 1000)
    with pytest.raises(SpecError, match="Clip"):
        parse_clip("-1000")


def test_from_dict_names_unknown_fields():
    with pytest.raises(SpecError, match="bogus"):
        BuildSpec.from_dict({"bogus": 1})


def test_dicom_selection_defaults_and_refusals():
    assert DicomSelection() == DicomSelection(modalities=("ct",), min_slices=3)
    with pytest.raises(SpecError, match="min_slices"):
        DicomSelection(min_slices=0)
