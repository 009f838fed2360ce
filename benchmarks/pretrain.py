"""Pre-training throughput: a step fed by the corpus loader vs the same step on a batch held in memory.

Both runs train the same model for the same steps; the second repeats its
first batch from memory (``--synthetic-data``), so the ratio of their step
rates is the loader efficiency (1.0 = the accelerator never waits for data).
Also reported: samples/s, the data-wait fraction and peak memory. The first
``--warmup`` steps (imports, autotuning, worker start) are left out.

    .venv/bin/python benchmarks/pretrain.py [--method voco] [--size tiny|paper] [--device auto]
        [--steps 40] [--warmup 10] [--workers 2] [--batch-size N] [--volumes 4] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from common import phantom_nifti

from corpus.build import build_corpus
from corpus.sources import discover
from corpus.spec import BuildSpec
from ctssl.methods import METHODS

SHAPE = (320, 260, 200)  # voxels at 1.5 mm: a 480 x 390 x 300 mm torso scan


def make_corpus(work: Path, volumes: int) -> str:
    inputs, out = work / "nifti", work / "corpus"
    inputs.mkdir(parents=True, exist_ok=True)
    for number in range(volumes):
        phantom_nifti(inputs / f"torso{number}.nii.gz", (1.5, 1.5, 1.5), SHAPE, 30.0 * number - 40.0, number, lps=False)
    if not out.exists():
        build_corpus(discover([inputs], []), str(out), BuildSpec(), progress=False)
    return str(out)


def measure(arguments: list[str], out: Path, steps: int, warmup: int) -> dict[str, float]:
    """One `corpus pretrain` process; rates over the steps after ``warmup`` (one log window covers them)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "corpus.cli", "pretrain", *arguments, "--out", str(out), "--steps", str(steps)]
    subprocess.run([*command, "--log-every", str(warmup)], check=True, capture_output=True, text=True)
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    after = [r for r in records if r["step"] > warmup]
    return {
        "steps_per_s": round(sum(r["steps_per_s"] for r in after) / len(after), 3),
        "samples_per_s": round(sum(r["samples_per_s"] for r in after) / len(after), 2),
        "data_wait_fraction": round(sum(r["data_wait_fraction"] for r in after) / len(after), 4),
        "peak_memory_gib": round(max(r["peak_memory_bytes"] for r in records) / 1024**3, 2),
        "final_loss": round(records[-1]["loss"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=list(METHODS), default="voco")
    parser.add_argument("--size", choices=["tiny", "paper"], default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--volumes", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-pretrain-bench")
    args = parser.parse_args()
    if (args.steps - args.warmup) % args.warmup:
        parser.error("--steps minus --warmup must be a multiple of --warmup (log windows line up with it)")
    corpus_url = make_corpus(args.work, args.volumes)
    arguments = [args.method, "--corpus", corpus_url, "--device", args.device, "--workers", str(args.workers)]
    arguments += ["--warmup-steps", "0", "--checkpoint-every", str(10**9)]
    arguments += ["--tiny"] if args.size == "tiny" else []
    arguments += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    batch_size = args.batch_size or METHODS[args.method].recipe().optimisation.batch_size
    loader = measure(arguments, args.work / "run", args.steps, args.warmup)
    memory = measure([*arguments, "--synthetic-data"], args.work / "run-synthetic", args.steps, args.warmup)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    result: dict[str, Any] = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {device}",
        "method": args.method,
        "size": args.size,
        "batch_size": batch_size,
        "workers": args.workers,
        "measured_steps": args.steps - args.warmup,
        "corpus_loader": loader,
        "synthetic_in_memory": memory,
        "loader_efficiency": round(loader["steps_per_s"] / memory["steps_per_s"], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
