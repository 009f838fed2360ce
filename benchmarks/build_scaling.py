"""Build throughput with 1 and 2 local worker processes on the same inputs.

Inputs: generated torso phantoms (int16 .nii.gz, 400 x 400 x 160 at
0.8 x 0.8 x 2 mm, about what a chest CT series is). Each run builds a fresh
corpus; the two corpora must hold identical voxels (same checksums).

    .venv/bin/python benchmarks/build_scaling.py [--volumes 8] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import phantom_nifti

import corpus
from corpus.build import build_corpus
from corpus.sources import discover
from corpus.spec import BuildSpec
from corpus.store.manifest import STATUS_OK

SHAPE, SPACING = (400, 400, 160), (0.8, 0.8, 2.0)


def make_inputs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        phantom_nifti(folder / f"chest{number:03d}.nii.gz", SPACING, SHAPE, 10.0 * number, seed=number)


def timed_build(inputs: Path, out: Path, workers: int) -> tuple[float, dict[str, str]]:
    shutil.rmtree(out, ignore_errors=True)
    items = discover([inputs], [])
    started = time.perf_counter()
    report = build_corpus(items, str(out), BuildSpec(), volumes_per_shard=32, progress=False, workers=workers)
    seconds = time.perf_counter() - started
    assert report.counts()[STATUS_OK] == len(items)
    checksums = {row["volume_id"]: row["checksum"] for row in corpus.open(str(out)).manifest.to_pylist()}
    return seconds, checksums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-build-bench")
    args = parser.parse_args()
    inputs = args.work / "inputs"
    make_inputs(inputs, args.volumes)
    one, sums_one = timed_build(inputs, args.work / "one", 1)
    two, sums_two = timed_build(inputs, args.work / "two", 2)
    assert sums_one == sums_two, "parallel build stored different voxels"
    rate_one, rate_two = args.volumes / one, args.volumes / two
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "volumes": args.volumes,
                "input": {"shape": SHAPE, "spacing_mm": SPACING},
                "seconds": {"1_worker": round(one, 2), "2_workers": round(two, 2)},
                "volumes_per_s": {"1_worker": round(rate_one, 3), "2_workers": round(rate_two, 3)},
                "scaling_efficiency": round(rate_two / (2 * rate_one), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
