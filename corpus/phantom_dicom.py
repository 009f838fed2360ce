"""Synthetic CT DICOM (pydicom): the torso phantom as classic or Enhanced CT series of known geometry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from corpus.phantom import render
from corpus.readers.volume import LPS_TO_RAS


@dataclass
class SeriesSpec:
    """A stack: row/column cosines (LPS), pixel spacing, slice positions (LPS mm), HU scaling."""

    rows: int
    columns: int
    pixel_spacing: tuple[float, float]  # (between rows, between columns)
    row_cosine: tuple[float, float, float]
    column_cosine: tuple[float, float, float]
    positions: Sequence[tuple[float, float, float]]
    slope: float = 1.0
    intercept: float = -1024.0
    padding: int | None = None
    markers: Sequence[tuple[float, float, float]] = ()  # RAS mm
    tags: dict[str, str] = field(default_factory=dict)  # extra DICOM keywords, e.g. patient data

    def slice_affine_ras(self, position: tuple[float, float, float]) -> np.ndarray:
        """Voxel (column i, row j, 0) -> RAS mm for the slice at ``position``."""
        lps = np.eye(4)
        lps[:3, 0] = np.asarray(self.row_cosine) * self.pixel_spacing[1]
        lps[:3, 1] = np.asarray(self.column_cosine) * self.pixel_spacing[0]
        lps[:3, 2] = np.cross(self.row_cosine, self.column_cosine)
        lps[:3, 3] = position
        return LPS_TO_RAS @ lps


def write_series(
    folder: Path,
    spec: SeriesSpec,
    order: Sequence[int] | None = None,
    noise_hu: float = 0.0,
    uid_seed: str | None = None,
) -> list[Path]:
    """One file per slice, written in ``order`` (file names follow it, not the geometry).

    UIDs are random, or derived from ``uid_seed`` so that a rerun writes identical files.
    """

    def image(position: tuple[float, float, float]) -> np.ndarray:
        return render(spec.slice_affine_ras(position), (spec.columns, spec.rows, 1), spec.markers, noise_hu=noise_hu)

    indices = order if order is not None else range(len(spec.positions))
    return _write_slices(
        folder, spec, ((spec.positions[i], image(spec.positions[i])[:, :, 0]) for i in indices), uid_seed
    )


def write_array_series(folder: Path, hu: np.ndarray, affine: np.ndarray, uid_seed: str | None = None) -> list[Path]:
    """An HU array (x, y, z) with its RAS affine (orthogonal axes) as one DICOM file per z slice."""
    lps = LPS_TO_RAS @ affine  # the diagonal flip is its own inverse
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    corners = [lps[:3, :3] @ (0.0, 0.0, k) + lps[:3, 3] for k in range(hu.shape[2])]
    positions = [(float(x), float(y), float(z)) for x, y, z in corners]
    spec = SeriesSpec(
        rows=hu.shape[1],
        columns=hu.shape[0],
        pixel_spacing=(float(spacing[1]), float(spacing[0])),
        row_cosine=tuple(lps[:3, 0] / spacing[0]),
        column_cosine=tuple(lps[:3, 1] / spacing[1]),
        positions=positions,
    )
    return _write_slices(folder, spec, ((p, hu[:, :, k]) for k, p in enumerate(positions)), uid_seed)


def _write_slices(
    folder: Path,
    spec: SeriesSpec,
    slices: Iterable[tuple[tuple[float, float, float], np.ndarray]],
    uid_seed: str | None,
) -> list[Path]:
    """Each (position, HU image (columns, rows)) as one file, IM0000, IM0001... in the order given."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid, frame_uid = (_uid(uid_seed, role) for role in ("series", "study", "frame"))
    paths = []
    for number, (position, hu) in enumerate(slices):
        stored = _stored_values(hu.T, spec)
        dataset = _dataset(spec, position, stored, number + 1, (series_uid, study_uid, frame_uid))
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = _uid(uid_seed, "instance", str(number))
        path = folder / f"IM{number:04d}"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _uid(seed: str | None, *parts: str) -> UID:
    return generate_uid() if seed is None else generate_uid(entropy_srcs=[seed, *parts])


def _stored_values(hu: np.ndarray, spec: SeriesSpec) -> np.ndarray:
    stored = np.rint((hu - spec.intercept) / spec.slope)
    if spec.padding is not None:  # a circular field of view, padding outside it
        rows, columns = np.mgrid[0 : spec.rows, 0 : spec.columns]
        radius = min(spec.rows, spec.columns) / 2
        outside = (rows - spec.rows / 2) ** 2 + (columns - spec.columns / 2) ** 2 > radius**2
        stored[outside] = spec.padding
    return stored.astype(np.int16)


def _dataset(
    spec: SeriesSpec, position: tuple[float, ...], stored: np.ndarray, number: int, uids: tuple[str, ...]
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = uids
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SeriesNumber = 3
    ds.InstanceNumber = number
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*spec.row_cosine, *spec.column_cosine)]
    ds.PixelSpacing = [f"{v:.6f}" for v in spec.pixel_spacing]
    ds.SliceThickness = "2.0"
    ds.RescaleSlope = f"{spec.slope:g}"
    ds.RescaleIntercept = f"{spec.intercept:g}"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    if spec.padding is not None:
        ds.add_new(0x00280120, "SS", spec.padding)  # PixelPaddingValue
    for keyword, value in spec.tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = stored.tobytes()
    return ds


def write_enhanced(path: Path, spec: SeriesSpec) -> Path:
    """One Enhanced CT object: every slice a frame, geometry in functional groups."""
    frames = [
        _stored_values(
            render(spec.slice_affine_ras(p), (spec.columns, spec.rows, 1), spec.markers, noise_hu=0.0)[:, :, 0].T, spec
        )
        for p in spec.positions
    ]
    ds = _dataset(spec, spec.positions[0], frames[0], 1, (generate_uid(), generate_uid(), generate_uid()))
    enhanced_ct = UID("1.2.840.10008.5.1.4.1.1.2.1")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = enhanced_ct
    for keyword in (
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "PixelSpacing",
        "RescaleSlope",
        "RescaleIntercept",
    ):
        delattr(ds, keyword)
    shared = Dataset()
    shared.PlaneOrientationSequence = [_item(ImageOrientationPatient=[*spec.row_cosine, *spec.column_cosine])]
    shared.PixelMeasuresSequence = [_item(PixelSpacing=list(spec.pixel_spacing), SliceThickness=2.0)]
    shared.PixelValueTransformationSequence = [_item(RescaleSlope=spec.slope, RescaleIntercept=spec.intercept)]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for position in spec.positions:
        group = Dataset()
        group.PlanePositionSequence = [_item(ImagePositionPatient=list(position))]
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.NumberOfFrames = len(frames)
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item
