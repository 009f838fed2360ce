"""Ingest per volume: ct-corpus vs the MONAI chain users write today vs the decode floor.

On identical inputs, one process, one codec thread:
  decode floor  nibabel reads the voxels (gzip decode) and nothing else
  ct-corpus     read + reorient/resample to 1.5 mm + clip + int16 zarr write + QC + thumbnails
  MONAI         LoadImage -> EnsureChannelFirst -> Orientation(RAS) -> Spacing(1.5, bilinear)
                -> ScaleIntensityRange(clip to -1024..3071) -> SaveImage(.nii.gz)
Both outputs are compared on their shared 1.5 mm lattice before a ratio is reported.
Peak memory of one build worker is measured on the largest input in a fresh process.

    .venv/bin/python benchmarks/ingest.py [--large 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import zarr
from common import aligned_difference, best_of, phantom_nifti

from corpus.ingest import ingest_input
from corpus.sources import InputItem
from corpus.spec import BuildSpec
from corpus.store.manifest import STATUS_OK
from corpus.store.storage_layout import StorageLayout

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct" / "totalsegmentator"
LARGE_SHAPE, LARGE_SPACING = (512, 512, 300), (0.7, 0.7, 1.25)


def inputs(work: Path, large: int) -> list[Path]:
    found = sorted(SHARED.glob("*.nii.gz")) if SHARED.is_dir() else []
    work.mkdir(parents=True, exist_ok=True)
    for number in range(large):
        found.append(phantom_nifti(work / f"large{number}.nii.gz", LARGE_SPACING, LARGE_SHAPE, 30.0 * number, number))
    return found


def decode_floor(path: Path) -> None:
    np.asanyarray(nib.load(path).dataobj)


def ours(path: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    group = zarr.open_group(zarr.storage.LocalStore(out), mode="a")
    item = InputItem(path, "bench", path.name)
    done = ingest_input(item, BuildSpec(), StorageLayout(), "salt", lambda: ("shard-00000", group))
    assert done.row["status"] == STATUS_OK, done.row["message"]
    return np.asarray(group[item.volume_id]["0"][...]), np.asarray(done.row["origin"])


def monai(path: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    from monai.transforms import (
        Compose,
        EnsureChannelFirst,
        LoadImage,
        Orientation,
        SaveImage,
        ScaleIntensityRange,
        Spacing,
    )

    chain = Compose(
        [
            LoadImage(image_only=True),
            EnsureChannelFirst(),
            Orientation("RAS"),
            Spacing((1.5, 1.5, 1.5), mode="bilinear"),
            ScaleIntensityRange(a_min=-1024, a_max=3071, b_min=-1024, b_max=3071, clip=True),
            SaveImage(output_dir=str(out), output_postfix="monai", separate_folder=False, print_log=False),
        ]
    )
    image = chain(str(path))
    return image[0].numpy(), np.asarray(image.affine)[:3, 3]


def peak_memory_mb(path: Path, out: Path) -> float:
    """Peak resident memory of a fresh process while it ingests ``path`` (one build worker; Linux).

    The child resets its high-water mark first (/proc/self/clear_refs), since a
    forked child starts out counting the parent's pages.
    """
    code = (
        "import sys, zarr; from pathlib import Path; from corpus.ingest import ingest_input; "
        "from corpus.sources import InputItem; from corpus.spec import BuildSpec; "
        "from corpus.store.storage_layout import StorageLayout; "
        "open('/proc/self/clear_refs', 'w').write('5'); "
        "g = zarr.open_group(zarr.storage.LocalStore(sys.argv[2]), mode='a'); p = Path(sys.argv[1]); "
        "ingest_input(InputItem(p, 'b', p.name), BuildSpec(), StorageLayout(), 's', lambda: ('shard-00000', g)); "
        "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), str(out)], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # kB -> MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=2, help="generated 512x512x300 volumes to add")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-ingest-bench")
    args = parser.parse_args()
    from numcodecs import blosc

    blosc.set_nthreads(1)
    results = []
    for path in inputs(args.work / "inputs", args.large):
        (stored, origin), (reference, monai_origin) = ours(path, args.work / "ours"), monai(path, args.work / "monai")
        difference = aligned_difference(stored, origin, reference, monai_origin)
        assert difference < 5.0, f"{path.name}: outputs differ by {difference:.1f} HU: not the same computation"
        t_floor = best_of(args.repeat, lambda path=path: decode_floor(path))
        t_ours = best_of(args.repeat, lambda path=path: ours(path, args.work / "ours"))
        t_monai = best_of(args.repeat, lambda path=path: monai(path, args.work / "monai"))
        results.append(
            {
                "input": path.name,
                "shape_in": list(nib.load(path).shape),
                "mean_abs_diff_hu": round(difference, 2),
                "decode_s": round(t_floor, 3),
                "ours_s": round(t_ours, 3),
                "monai_s": round(t_monai, 3),
                "vs_monai": round(t_monai / t_ours, 2),
                "vs_decode_floor": round(t_ours / t_floor, 2),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    largest = max(inputs(args.work / "inputs", args.large), key=lambda p: np.prod(nib.load(p).shape))
    print(json.dumps({"peak_memory_mb": round(peak_memory_mb(largest, args.work / "mem"), 1), "input": largest.name}))


if __name__ == "__main__":
    main()
