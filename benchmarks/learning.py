"""Learning on the CPU from streamed corpus data: the first and the last window of every loss term.

The tiny model of a method's default recipe trains on crops streamed from a
phantom corpus, a new batch every step (not a fixed batch), through the same
`corpus pretrain` command users run; the script reports each logged term's
mean over the first and the last ``--window`` steps.

    .venv/bin/python benchmarks/learning.py --method voco [--steps 320] [--window 40] [--volumes 6]
        [--work DIR] [-- extra `corpus pretrain` options, e.g. --warmup-steps 20 or --scale 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

from pretrain import make_corpus

from ctssl.methods import METHODS
from ctssl.runlog import PASSED_OVER

NOT_TERMS = {
    "step",
    "lr",
    "world_size",
    "steps_per_s",
    "samples_per_s",
    "data_wait_fraction",
    "peak_memory_bytes",
    PASSED_OVER,
}


def windows(records: list[dict[str, float]], window: int) -> dict[str, dict[str, float]]:
    """Per logged term: its mean over the first and over the last ``window`` steps, and the change."""
    first, last = records[:window], records[-window:]
    terms = [key for key in records[0] if key not in NOT_TERMS]
    report = {}
    for term in terms:
        start, end = mean(r[term] for r in first), mean(r[term] for r in last)
        report[term] = {"first": round(start, 4), "last": round(end, 4), "change": round(end - start, 4)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=list(METHODS), default="voco")
    parser.add_argument("--steps", type=int, default=320)
    parser.add_argument("--window", type=int, default=40)
    parser.add_argument("--volumes", type=int, default=6)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-learning")
    parser.add_argument("extra", nargs="*", help="more `corpus pretrain` options (after --)")
    args = parser.parse_args()
    corpus_url = make_corpus(args.work, args.volumes)
    out = args.work / f"run-{args.method}"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "corpus.cli", "pretrain", args.method, "--corpus", corpus_url, "--out", str(out)]
    command += ["--tiny", "--device", "cpu", "--workers", str(args.workers), "--steps", str(args.steps)]
    command += ["--log-every", "1", "--checkpoint-every", str(args.steps), *args.extra]
    subprocess.run(command, check=True)
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    result = {
        "method": args.method,
        "recipe": json.loads((out / "config.json").read_text())["recipe"],
        "steps": args.steps,
        "window": args.window,
        "options": args.extra,
        "seconds_per_step": round(1 / mean(r["steps_per_s"] for r in records), 2),
        "terms": windows(records, args.window),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
