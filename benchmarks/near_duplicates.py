"""Near-duplicate search at scale: synthetic fingerprint rows, matched from the manifest alone.

Rows are drawn from 64 anatomy plans (long smooth sequences of 16-box
descriptors, like a whole body at 3 mm per slab): each volume is a window of
one plan, stretched by the patient's size (0.85-1.15), with its own offsets
per box (sd 30 HU by default, `--patient-sd`: two patients of one plan differ as two phantom bodies do) and
3 HU of noise. 1% of them get a planted copy: stretched 0.7-1.4 (a rewritten
spacing), cut to 50-100% of its slabs, 2 HU of new noise. The script reports
the time of the whole search (`near_duplicate_groups`; wall and CPU seconds, as
a shared machine inflates the wall clock), the candidate pairs
the token index proposed, and how many planted copies were found and how many
pairs were grouped that were not planted. Several sizes give the scale of the
blocking: candidate pairs and seconds against the number of volumes (one JSON
line per size; sizes run smallest first, so the peak memory of the process is
that of the size just run).

    .venv/bin/python benchmarks/near_duplicates.py [--rows 1000 10000 160000]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pyarrow as pa

from corpus.duplicates.groups import near_duplicate_groups
from corpus.duplicates.index import candidate_pairs
from corpus.preprocess.fingerprint import decode, encode

PLANS, PLAN_SLABS = 64, 700
COPIES = 0.01
PATIENT_SD = 30.0


def plans(rng: np.random.Generator) -> np.ndarray:
    steps = rng.normal(0.0, 20.0, size=(PLANS, PLAN_SLABS, 16))
    return np.clip(np.cumsum(steps, axis=1) + rng.uniform(-700, 100, size=(PLANS, 1, 16)), -1000, 1000)


def stretched(sequence: np.ndarray, scale: float, start: float, count: int) -> np.ndarray:
    positions = np.clip(start + np.arange(count) / scale, 0, len(sequence) - 1.001)
    low = np.floor(positions).astype(int)
    weight = (positions - low)[:, None]
    return sequence[low] * (1 - weight) + sequence[low + 1] * weight


def volume(rng: np.random.Generator, atlas: np.ndarray, patient_sd: float) -> np.ndarray:
    count = int(rng.integers(60, 200))
    scale = rng.uniform(0.85, 1.15)
    start = rng.uniform(0, len(atlas) - count / scale - 1)
    body = stretched(atlas, scale, start, count) + rng.normal(0, patient_sd, size=16)
    return body + rng.normal(0, 3, size=body.shape)


def copy_of(rng: np.random.Generator, original: np.ndarray) -> np.ndarray:
    scale = rng.uniform(0.7, 1.4)
    kept = rng.uniform(0.5, 1.0) * len(original)
    start = rng.uniform(0, len(original) - kept)
    count = max(2, int(kept * scale))
    return stretched(original, scale, start, count) + rng.normal(0, 2, size=(count, 16))


def synthesize(rows: int, patient_sd: float = PATIENT_SD, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """Encoded fingerprints (encoded at once: 160K float arrays would not fit), and the planted (original, copy)."""
    rng = np.random.default_rng(seed)
    atlases = plans(rng)
    originals = rows - int(rows * COPIES)
    fingerprints = [
        encode(volume(rng, atlases[rng.integers(PLANS)], patient_sd).astype(np.float32)) for _ in range(originals)
    ]
    planted = [(int(i), originals + n) for n, i in enumerate(rng.choice(originals, rows - originals, replace=False))]
    for original, _ in planted:
        decoded = decode(fingerprints[original])
        assert decoded is not None
        fingerprints.append(encode(copy_of(rng, decoded).astype(np.float32)))
    return fingerprints, planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 10_000, 160_000])
    parser.add_argument("--patient-sd", type=float, default=PATIENT_SD, help="HU between two patients of one plan")
    args = parser.parse_args()
    for rows in sorted(args.rows):
        print(json.dumps(measure(rows, args.patient_sd)), flush=True)


def measure(rows: int, patient_sd: float) -> dict[str, float | int]:
    fingerprints, planted = synthesize(rows, patient_sd)
    ids = [f"v{i:07d}" for i in range(rows)]
    table = pa.table(
        {"volume_id": ids, "checksum": ids, "series_key": ids, "fingerprint": fingerprints},
    )
    started, cpu = time.perf_counter(), time.process_time()
    candidates = len(candidate_pairs(fingerprints))
    index_seconds, index_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    groups = near_duplicate_groups(table)
    seconds, search_cpu = time.perf_counter() - started, time.process_time() - cpu
    together = {(a, b) for group in groups for a in group["volumes"] for b in group["volumes"] if a < b}
    expected = {tuple(sorted((ids[a], ids[b]))) for a, b in planted}
    return {
        "rows": rows,
        "patient_sd_hu": patient_sd,
        "search_s": round(seconds, 1),
        "search_cpu_s": round(search_cpu, 1),
        "index_s": round(index_seconds, 1),
        "index_cpu_s": round(index_cpu, 1),
        "candidate_pairs": candidates,
        "all_pairs": rows * (rows - 1) // 2,
        "planted_pairs": len(expected),
        "planted_found": len(expected & together),
        "false_pairs": len(together - expected),
        "seconds_per_1k": round(seconds / rows * 1000, 2),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


if __name__ == "__main__":
    main()
