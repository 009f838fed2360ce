"""Ingest per volume: ct-corpus vs the SimpleITK and MONAI chains users write today, and the decode floor.

On identical inputs, one process, each side with its default threads (the cores available):
  decode floor  the voxels read and nothing else: nibabel for NIfTI, pydicom's pixel_array per DICOM file
  ct-corpus     one ingest_input: read + reorient/resample to 1.5 mm + floor/clip + int16 zarr write
                (compressed) + checksum + QC + thumbnails
  SimpleITK     ReadImage / ImageSeriesReader -> DICOMOrient(RAS) -> Resample(linear, 1.5 mm, the
                input's RAS bounding box) -> Clamp -> Round -> Cast(int16); nothing written
  MONAI         LoadImage -> EnsureChannelFirst -> Orientation(RAS) -> Spacing(1.5, bilinear)
                -> ScaleIntensityRange(clip to -1024..3071); nothing written
Before any ratio, each pair's outputs are compared at the other side's voxel centres (on a shared
lattice that is exact). SimpleITK places a gantry-tilted stack without its shear, and both chains
place an uneven stack at one spacing: on such inputs a chain may compute something else, and the
row says so (a mean difference above 5 HU) instead of failing.
Then the time of each part of ct-corpus's ingest is profiled. Peak memory of one build worker is
measured on the largest input in a fresh process.

    .venv/bin/python benchmarks/ingest.py [--large 1] [--repeat 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from common import best_of, phantom_dicom_series, phantom_nifti, world_difference

from corpus.ingest import ingest_input
from corpus.phantom import rotation_x, rotation_z
from corpus.preprocess.intensity import hu_percentiles
from corpus.preprocess.normalize import normalize
from corpus.preprocess.qc import assess
from corpus.preprocess.resample import slice_knots
from corpus.preprocess.trilinear import sample
from corpus.readers import Volume, read_volume
from corpus.readers.dicom import read_dicom_series
from corpus.sources import InputItem, discover
from corpus.spec import BuildSpec, DicomSelection
from corpus.store.arrays import checksum, write_volume
from corpus.store.manifest import STATUS_OK
from corpus.store.storage_layout import StorageLayout
from corpus.store.thumbnails import thumbnails
from corpus.threads import default_threads, use_codec_threads

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct"
REAL_DICOM = {  # folder: what the chains do not model (empty: nothing)
    "dcm_qa_ct/ge_head_tilt": "gantry tilt and uneven gaps",
    "dcm_qa_ct/philips_study/S21570/S2010": "",
    "ibsi_sts/sts002_limb_dicom": "",
    "totalsegmentator/abdomen_j2k_dicom": "",
}
SAME_COMPUTATION_HU = 5.0  # mean |diff| above this: the two sides did not compute the same thing
LARGE_VOXELS = 30_000_000  # decode-floor target
MONAI_TARGET_VOXELS = 50_000_000  # 5x MONAI target
LARGE_SPACING = (0.7, 0.7, 1.25)
SPEC, LAYOUT = BuildSpec(), StorageLayout()
RAS_IN_LPS = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Case:
    name: str
    path: Path  # a file, or a DICOM series folder
    unmodelled: str = ""  # geometry the SimpleITK and MONAI chains do not model

    @property
    def is_dicom(self) -> bool:
        return self.path.is_dir()


def cases(work: Path, large: int) -> list[Case]:
    found = [Case(p.name, p) for p in sorted((DATA / "totalsegmentator").glob("*.nii.gz")) if "labels" not in p.name]
    found += [Case(Path(folder).name, DATA / folder, note) for folder, note in REAL_DICOM.items()]
    found = [case for case in found if case.path.exists()]
    work.mkdir(parents=True, exist_ok=True)
    if large:
        found += [
            Case("generated 512x512x300", phantom_nifti(work / "large.nii.gz", LARGE_SPACING, (512, 512, 300), 0, 0)),
            Case("generated oblique", oblique_nifti(work / "oblique.nii.gz")),
            Case("generated DICOM", phantom_dicom_series(work / "dicom_200", 200)),
            Case("generated DICOM, 15° tilt", phantom_dicom_series(work / "dicom_tilt", 134, 15.0), "gantry tilt"),
        ]
    return found


def oblique_nifti(path: Path) -> Path:
    rotation = rotation_z(12.0) @ rotation_x(8.0)
    return phantom_nifti(path, LARGE_SPACING, (512, 512, 200), 0, 1, rotation=rotation)


def input_item(case: Case) -> InputItem:
    if not case.is_dicom:
        return InputItem(case.path, "bench", case.path.name)
    return next(item for item in discover([case.path], [], DicomSelection()) if item.skip is None)


def decode_floor(item: InputItem) -> None:
    if item.slices:
        import pydicom

        for path in sorted({header.path for header in item.slices}):
            pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is the point
        return
    import nibabel as nib

    np.asanyarray(nib.load(item.path).dataobj)


def ours(item: InputItem, out: Path, threads: int) -> tuple[np.ndarray, np.ndarray]:
    shutil.rmtree(out, ignore_errors=True)
    group = zarr.open_group(zarr.storage.LocalStore(out), mode="a")
    done = ingest_input(item, SPEC, LAYOUT, "salt", lambda: ("shard-00000", group), threads)
    assert done.row["status"] == STATUS_OK, done.row["message"]
    affine = np.diag([*done.row["spacing"], 1.0])
    affine[:3, 3] = done.row["origin"]
    return np.asarray(group[item.volume_id]["0"][...]), affine


def simpleitk_chain(case: Case) -> tuple[np.ndarray, np.ndarray]:
    import SimpleITK as sitk

    if case.is_dicom:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(case.path)))
        image = reader.Execute()
    else:
        image = sitk.ReadImage(str(case.path))
    image = sitk.DICOMOrient(image, "RAS")
    origin, size = _ras_bounding_grid(image)
    lps_origin = (-origin[0], -origin[1], origin[2])
    resampled = sitk.Resample(
        image, size, sitk.Transform(), sitk.sitkLinear, lps_origin, (1.5,) * 3, RAS_IN_LPS, -1024.0, sitk.sitkFloat32
    )
    stored = sitk.Cast(sitk.Round(sitk.Clamp(resampled, lowerBound=-1024, upperBound=3071)), sitk.sitkInt16)
    affine = np.diag([1.5, 1.5, 1.5, 1.0])
    affine[:3, 3] = origin
    return sitk.GetArrayFromImage(stored).T, affine


def _ras_bounding_grid(image: object) -> tuple[list[float], list[int]]:
    """RAS-min corner of the voxel centres' bounding box, and the 1.5 mm grid size spanning it."""
    size = image.GetSize()  # type: ignore[attr-defined]
    corners = [
        image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])  # type: ignore[attr-defined]
        for corner in np.ndindex(2, 2, 2)
        for corner in [np.asarray(corner) * (np.asarray(size) - 1)]
    ]
    ras = np.asarray(corners) * np.array([-1.0, -1.0, 1.0])
    low, high = ras.min(axis=0), ras.max(axis=0)
    return low.tolist(), [int(n) for n in np.floor((high - low) / 1.5 + 1e-6) + 1]


def monai_chain(case: Case) -> tuple[np.ndarray, np.ndarray]:
    from monai.transforms import Compose, EnsureChannelFirst, LoadImage, Orientation, ScaleIntensityRange, Spacing

    chain = Compose(
        [
            LoadImage(reader="PydicomReader" if case.is_dicom else None, image_only=True),
            EnsureChannelFirst(),
            Orientation("RAS"),
            Spacing((1.5, 1.5, 1.5), mode="bilinear"),
            ScaleIntensityRange(a_min=-1024, a_max=3071, b_min=-1024, b_max=3071, clip=True),
        ]
    )
    image = chain(str(case.path))
    return image[0].numpy(), np.asarray(image.affine, dtype=np.float64)


def _read(item: InputItem) -> Volume:
    return read_dicom_series(item.slices, SPEC.max_gap_mm) if item.slices else read_volume(item.path)


def profile(item: InputItem, work: Path, threads: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` seconds of each part of one ingest, run part by part."""
    volume = _read(item)
    stored = normalize(volume, SPEC, threads)
    array, grid = stored.array, stored.grid
    percentiles = hu_percentiles(array)

    def write(store: zarr.abc.store.Store) -> None:
        write_volume(zarr.open_group(store, mode="w"), "v", array, grid, SPEC, LAYOUT)

    local = work / "profile"
    parts: dict[str, Callable[[], object]] = {
        "decode": lambda: _read(item),
        "resample + floor + clip + cast": lambda: normalize(volume, SPEC, threads),
        "checksum": lambda: checksum(array),
        "compress (+ checksum)": lambda: write(zarr.storage.MemoryStore()),
        "compress + write (+ checksum)": lambda: write(zarr.storage.LocalStore(local)),
        "QC": lambda: (hu_percentiles(array), assess(array, grid.spacing, percentiles)),
        "thumbnails": lambda: thumbnails(array, grid.spacing),
    }
    seconds = {name: round(best_of(repeat, run), 3) for name, run in parts.items()}
    seconds["compress"] = round(max(seconds.pop("compress (+ checksum)") - seconds["checksum"], 0.0), 3)
    write_only = seconds.pop("compress + write (+ checksum)") - seconds["compress"] - seconds["checksum"]
    seconds["write"] = round(max(write_only, 0.0), 3)
    return seconds


def peak_memory_mb(path: Path, out: Path) -> float:
    """Peak resident memory of a fresh process while it ingests ``path`` (one build worker; Linux).

    The child resets its high-water mark first (/proc/self/clear_refs), since a
    forked child starts out counting the parent's pages.
    """
    code = (
        "import sys, zarr; from pathlib import Path; from corpus.ingest import ingest_input; "
        "from corpus.sources import InputItem; from corpus.spec import BuildSpec; "
        "from corpus.store.storage_layout import StorageLayout; from corpus.threads import default_threads; "
        "open('/proc/self/clear_refs', 'w').write('5'); "
        "g = zarr.open_group(zarr.storage.LocalStore(sys.argv[2]), mode='a'); p = Path(sys.argv[1]); "
        "ingest_input(InputItem(p, 'b', p.name), BuildSpec(), StorageLayout(), 's', lambda: ('shard-00000', g), "
        "default_threads(1)); "
        "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), str(out)], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # kB -> MB


def compare(case: Case, item: InputItem, work: Path, threads: int, repeat: int) -> dict[str, object]:
    """Check each pair computed the same thing, then time all four sides (best of ``repeat``)."""
    stored, affine = ours(item, work / "ours", threads)
    differences = {
        name: round(difference(item, stored, affine, *chain(case)), 2)
        for name, chain in (("simpleitk", simpleitk_chain), ("monai", monai_chain))
    }
    same = {name: value < SAME_COMPUTATION_HU for name, value in differences.items()}
    for name, value in differences.items():
        assert case.unmodelled or same[name], f"{case.name}: {name} differs by {value} HU: not the same computation"
    times = {
        "decode_s": best_of(repeat, lambda: decode_floor(item)),
        "ours_s": best_of(repeat, lambda: ours(item, work / "ours", threads)),
        "simpleitk_s": best_of(repeat, lambda: simpleitk_chain(case)),
        "monai_s": best_of(repeat, lambda: monai_chain(case)),
    }
    return {"times": times, "differences": differences, "same": same, "shape": list(stored.shape)}


def difference(item: InputItem, stored: np.ndarray, affine: np.ndarray, theirs: np.ndarray, at: np.ndarray) -> float:
    """Mean |ours - theirs|: on a shared lattice the stored voxels themselves; on another grid (MONAI
    keeps an oblique input's axes) ct-corpus's sampler evaluated at their voxel centres, before rounding."""
    steps = np.linalg.solve(affine, at)  # their voxel index -> our voxel index
    whole = np.allclose(steps[:3, :3], np.eye(3), atol=1e-4) and np.allclose(
        steps[:3, 3], np.rint(steps[:3, 3]), atol=1e-3
    )
    if whole:
        return world_difference(stored, affine, theirs, at)
    volume = _read(item)
    stack = None if volume.slice_positions is None else (2, *slice_knots(volume.slice_positions))
    there = np.empty(theirs.shape, dtype=np.float32)
    index_map = (np.linalg.inv(volume.affine) @ at)[:3]
    sample(np.ascontiguousarray(volume.array), there, index_map, stack, -1024.0, (-1024.0, 3071.0), np.nan, 1)
    inside = ~np.isnan(there)
    return float(np.mean(np.abs(there[inside] - theirs[inside])))


def result_row(case: Case, voxels: int, compared: dict[str, object], threads: int) -> dict[str, object]:
    times: dict[str, float] = compared["times"]  # type: ignore[assignment]
    ours_s = times["ours_s"]
    row: dict[str, object] = {
        "input": case.name,
        "kind": "DICOM" if case.is_dicom else "NIfTI",
        "voxels_in": voxels,
        "unmodelled": case.unmodelled,
        "threads": threads,
        **{key: round(value, 3) for key, value in times.items()},
        "ours_vs_simpleitk": round(ours_s / times["simpleitk_s"], 2),
        "monai_vs_ours": round(times["monai_s"] / ours_s, 2),
        "ours_vs_decode": round(ours_s / times["decode_s"], 2),
        "mean_abs_diff_hu": compared["differences"],
        "same_computation": compared["same"],
    }
    row["targets"] = {
        "at_most_simpleitk": ours_s <= times["simpleitk_s"],
        "5x_monai": None if voxels < MONAI_TARGET_VOXELS else times["monai_s"] >= 5 * ours_s,
        "3x_decode_floor": None if voxels < LARGE_VOXELS else ours_s <= 3 * times["decode_s"],
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=1, help="1: add the generated large volumes, 0: real scans only")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-ingest-bench")
    args = parser.parse_args()
    threads = default_threads(1)
    use_codec_threads(threads)
    largest: tuple[int, Path] | None = None
    for case in cases(args.work / "inputs", args.large):
        item = input_item(case)
        volume = _read(item)
        voxels = int(np.prod(volume.shape))
        del volume
        started = time.perf_counter()
        compared = compare(case, item, args.work, threads, args.repeat)
        print(json.dumps(result_row(case, voxels, compared, threads)), flush=True)
        parts = profile(item, args.work, threads, args.repeat)
        print(json.dumps({"profile": case.name, "seconds": parts, "bench_s": round(time.perf_counter() - started)}))
        if not case.is_dicom and (largest is None or voxels > largest[0]):
            largest = (voxels, case.path)
    if largest is not None:
        memory = peak_memory_mb(largest[1], args.work / "memory")
        print(json.dumps({"peak_memory_mb": round(memory, 1), "input": largest[1].name}))


if __name__ == "__main__":
    main()
