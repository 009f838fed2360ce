"""DICOM series ingest: ct-corpus vs MONAI LoadImage(PydicomReader) on the same folders.

Both sides read a series folder and resample it to 1.5 mm RAS (MONAI:
LoadImage -> EnsureChannelFirst -> Orientation RAS -> Spacing bilinear).
Before timing, each pair's outputs are compared (shape within 1 voxel,
mean absolute difference on the overlap) so the ratio compares like with like.

    .venv/bin/python benchmarks/dicom_ingest.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from common import aligned_difference, best_of

from corpus.preprocess.normalize import normalize
from corpus.readers.dicom import read_dicom_series
from corpus.readers.dicom_headers import looks_like_dicom, read_headers
from corpus.readers.dicom_series import group_stacks
from corpus.spec import BuildSpec, DicomSelection

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ct"
FOLDERS = ["dcm_qa_ct/philips_study/S21570/S2010", "ibsi_sts/sts002_limb_dicom", "totalsegmentator/abdomen_j2k_dicom"]


def ours(folder: Path, spec: BuildSpec) -> tuple[np.ndarray, np.ndarray]:
    headers = [h for path in sorted(folder.iterdir()) if looks_like_dicom(path) for h in read_headers(path)]
    stack = group_stacks(headers, DicomSelection())[0]
    normalized = normalize(read_dicom_series(stack.slices, spec.max_gap_mm), spec)
    return normalized.array, np.asarray(normalized.grid.origin)


def monai(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from monai.transforms import Compose, EnsureChannelFirst, LoadImage, Orientation, Spacing

    chain = Compose(
        [
            LoadImage(reader="PydicomReader", image_only=True),
            EnsureChannelFirst(),
            Orientation("RAS"),
            Spacing((1.5,) * 3),
        ]
    )
    image = chain(str(folder))
    return np.clip(image[0].numpy(), -1024, 3071), np.asarray(image.affine)[:3, 3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spec = BuildSpec()
    results = []
    for name in FOLDERS:
        folder = DATA / name
        (a, origin_a), (b, origin_b) = ours(folder, spec), monai(folder)
        mad = aligned_difference(a, origin_a, b, origin_b)
        t_ours = best_of(args.repeat, lambda folder=folder: ours(folder, spec))
        t_monai = best_of(args.repeat, lambda folder=folder: monai(folder))
        results.append(
            {
                "series": name,
                "shape": list(a.shape),
                "monai_shape": list(b.shape),
                "mean_abs_diff_hu": round(mad, 2),
                "ours_s": round(t_ours, 3),
                "monai_s": round(t_monai, 3),
                "speedup": round(t_monai / t_ours, 2),
            }
        )
        print(json.dumps(results[-1]))
    machine = f"{platform.node()} {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores"
    print(json.dumps({"date": datetime.now(UTC).date().isoformat(), "machine": machine}))


if __name__ == "__main__":
    main()
