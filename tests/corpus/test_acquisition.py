"""Acquisition metadata: every value controlled, whatever the header holds."""

from __future__ import annotations

import pytest
from pydicom.multival import MultiValue

from corpus.acquisition import (
    AXIAL,
    CONTRAST_NO,
    CONTRAST_UNKNOWN,
    CONTRAST_YES,
    HELICAL,
    OTHER_BODY_PART,
    Acquisition,
    acquisition_type_of,
    body_part_of,
    bounded_number,
    contrast_of,
    device_string,
    read_acquisition,
    summarise,
)


def tags(**values: object):
    return lambda keyword: values.get(keyword)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GE MEDICAL SYSTEMS", "GE MEDICAL SYSTEMS"),
        ("  Philips  ", "Philips"),
        (MultiValue(str, ["Br38f", "3"]), "Br38f\\3"),
        ('<b>Toshiba</b>; "Aquilion" ONE', "bToshiba/b Aquilion ONE"),
        ("A" * 40 + " trailing text", "A" * 32),
        ("", None),
        (None, None),
        ("\x00\x01", None),
    ],
)
def test_device_strings_keep_short_runs_of_plain_characters(raw, expected):
    assert device_string(raw) == expected
    assert expected is None or len(expected) <= 32


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("120", 120.0), ("3.26999999999998", 3.27), ("", None), ("abc", None), ("1e9", None), (None, None)],
)
def test_numbers_outside_their_range_or_not_numbers_are_null(raw, expected):
    assert bounded_number(raw, (0.05, 200.0)) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ContrastBolusAgent": "APPLIED", "ContrastBolusVolume": "0"}, CONTRAST_YES),
        ({"ContrastBolusAgent": "Omnipaque 350 for patient Zebulon"}, CONTRAST_YES),
        ({"ContrastBolusAgent": "NON-IONIC"}, CONTRAST_YES),
        ({"ContrastBolusAgent": "NONE"}, CONTRAST_NO),
        ({"ContrastBolusAgent": "no contrast"}, CONTRAST_NO),
        ({"ContrastBolusAgent": "-"}, CONTRAST_NO),
        ({"ContrastBolusAgent": "N/A"}, CONTRAST_UNKNOWN),
        ({"ContrastBolusAgent": ""}, CONTRAST_UNKNOWN),
        ({"ContrastBolusRoute": "IV"}, CONTRAST_YES),
        ({"ContrastBolusVolume": "80"}, CONTRAST_YES),
        ({"ContrastBolusIngredient": "IODINE"}, CONTRAST_YES),
        ({"ContrastBolusAgentAdministered": "NO", "ContrastBolusAgent": "IODINE"}, CONTRAST_NO),
        ({}, CONTRAST_UNKNOWN),
    ],
)
def test_contrast_is_yes_no_or_unknown(fields, expected):
    assert contrast_of(tags(**fields)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CHEST", "CHEST"),
        ("chest", "CHEST"),
        ("Chest Abd Pelvis", "CHESTABDPELVIS"),
        ("CHEST_TO_PELVIS", "CHESTABDPELVIS"),
        ("HEAD-NECK", "HEADNECK"),
        ("THORAX", "CHEST"),
        ("PARTIALBODY", OTHER_BODY_PART),
        ("Zebulon's belly, see PHI note", OTHER_BODY_PART),
        ("", None),
        (None, None),
    ],
)
def test_body_part_is_a_defined_term_or_other(raw, expected):
    assert body_part_of(raw) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"AcquisitionType": "SPIRAL"}, HELICAL),
        ({"AcquisitionType": "SEQUENCED"}, AXIAL),
        ({"AcquisitionType": "CONSTANT_ANGLE"}, None),
        ({"ScanOptions": "HELICAL MODE"}, HELICAL),
        ({"ScanOptions": "AXIAL MODE"}, AXIAL),
        ({"ScanOptions": "HELIX"}, HELICAL),
        ({"ImageType": ["ORIGINAL", "PRIMARY", "AXIAL", "CT_SOM5 SPI"]}, HELICAL),
        ({"ImageType": ["ORIGINAL", "PRIMARY", "AXIAL", "CT_SOM5 SEQ"]}, AXIAL),
        ({"ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"]}, None),  # the image plane, not the acquisition
        ({"SpiralPitchFactor": "0.8"}, HELICAL),
        ({}, None),
    ],
)
def test_acquisition_type_is_axial_helical_or_unknown(fields, expected):
    assert acquisition_type_of(tags(**fields)) == expected


def test_equal_headers_share_one_object():
    first = read_acquisition(tags(Manufacturer="SIEMENS", KVP="120"))
    assert read_acquisition(tags(Manufacturer="SIEMENS", KVP="120.0")) is first


def test_a_stack_takes_the_median_thickness_and_the_most_common_text():
    slices = [Acquisition(kernel="B", slice_thickness_mm=4.0, contrast=CONTRAST_UNKNOWN)] * 2 + [
        Acquisition(kernel="A", slice_thickness_mm=7.0, contrast=CONTRAST_YES)
    ] * 2
    summary = summarise(slices)
    assert summary.slice_thickness_mm == 5.5
    assert summary.kernel == "A"  # a tie goes to the first in order, whatever the slice order
    assert summary.contrast == CONTRAST_YES  # unknown slices do not vote
    assert summarise([]) == Acquisition()


# ---------------------------------------------------------------- real scanner headers in ../shared

REAL_SERIES = {  # source (the folder's name) -> the folder of the series below ../shared/data/ct
    "ge_head_tilt": "dcm_qa_ct/ge_head_tilt",
    "philips_study": "dcm_qa_ct/philips_study/S21570/S2010",
    "abdomen_j2k_dicom": "totalsegmentator/abdomen_j2k_dicom",
    "sts002_limb_dicom": "ibsi_sts/sts002_limb_dicom",
    "ge_3slice_padding": "dcmqi/ge_3slice_padding",
}
# What the controlled columns must make of the raw values these scanners wrote (KeyError: a value not judged yet).
CONTRAST = {"APPLIED": CONTRAST_YES, None: CONTRAST_UNKNOWN}
BODY_PART = {"HEAD": "HEAD", "BRAIN": "BRAIN", "EXTREMITY": "EXTREMITY", "PARTIALBODY": OTHER_BODY_PART, None: None}
SCAN_MODE = {"SPIRAL": HELICAL, "HELIX": HELICAL, "HELICAL MODE": HELICAL, "CT_SOM5 SPI": HELICAL, None: None}


def pydicom_reference(folder) -> dict[str, object]:
    """The columns as read straight from every file of the series with pydicom."""
    import statistics
    from collections import Counter

    import pydicom

    paths = [path for path in sorted(folder.iterdir()) if path.name != "DIRFILE"]  # Philips' folder index
    datasets = [pydicom.dcmread(path, stop_before_pixels=True) for path in paths]
    first = datasets[0]

    def text(dataset, keyword):
        value = dataset.get(keyword)
        return None if value in (None, "") else value

    def mode(dataset):
        image_type = list(dataset.get("ImageType", []))
        words = [text(dataset, "AcquisitionType"), text(dataset, "ScanOptions"), *image_type[3:]]
        return next((SCAN_MODE[w] for w in words if w in SCAN_MODE and w is not None), None)

    kernel = first.get("ConvolutionKernel")
    return {
        "manufacturer": first.Manufacturer,
        "model": first.ManufacturerModelName,
        "kvp": float(first.KVP),
        "kernel": "\\".join(kernel) if isinstance(kernel, MultiValue) else kernel,
        "slice_thickness_mm": statistics.median(float(d.SliceThickness) for d in datasets),
        "contrast": CONTRAST[text(first, "ContrastBolusAgent")],
        "body_part": BODY_PART[text(first, "BodyPartExamined")],
        "acquisition_type": Counter(mode(d) for d in datasets).most_common(1)[0][0],
    }


def test_real_dicom_columns_equal_what_pydicom_reads(shared_ct, tmp_path):
    from corpus.acquisition import ACQUISITION_COLUMNS
    from corpus.build import build_corpus
    from corpus.sources import discover
    from corpus.spec import BuildSpec
    from corpus.store.reader import Corpus

    roots = [shared_ct / "dcm_qa_ct" / "philips_study"] + [
        shared_ct / p for s, p in REAL_SERIES.items() if s != "philips_study"
    ]
    build_corpus(discover(roots, []), str(tmp_path / "c"), BuildSpec(spacing=(3.0, 3.0, 3.0)), progress=False)
    rows = {row["source"]: row for row in Corpus(str(tmp_path / "c")).stored().to_pylist()}
    assert set(rows) == set(REAL_SERIES)
    names = [column.name for column in ACQUISITION_COLUMNS]
    for source, folder in REAL_SERIES.items():
        expected = pydicom_reference(shared_ct / folder)
        found = {name: rows[source][name] for name in names}
        assert found == pytest.approx(expected), source
