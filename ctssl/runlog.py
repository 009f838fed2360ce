"""Training logs: one JSON line per logged step in OUT/train.jsonl and a short line on the terminal.

Rates and the data-wait fraction are over the steps since the previous log
line: data wait = time blocked on the loader / wall time of those steps.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch

from corpus.store.atomic import write_bytes_atomic

GIB = 1024**3
PASSED_OVER = "volumes_passed_over"  # samples so far taken from the next volume: the sampler rejected all draws


def peak_memory_bytes(device: torch.device) -> int:
    """CUDA: peak allocated by torch on the device; CPU: this process's peak resident set."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@dataclass
class Window:
    """Timing of the steps since the last log line."""

    started: float = field(default_factory=time.perf_counter)
    steps: int = 0
    data_wait: float = 0.0

    def rates(self, samples_per_step: int) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return {
            "steps_per_s": self.steps / elapsed,
            "samples_per_s": self.steps * samples_per_step / elapsed,
            "data_wait_fraction": self.data_wait / elapsed,
        }


class RunLog:
    def __init__(self, path: Path | None, total_steps: int, stream: TextIO | None = None) -> None:
        self.path, self.total_steps = path, total_steps
        self.stream = stream if stream is not None else sys.stderr  # resolved now: tests and CLIs swap sys.stderr
        self.window = Window()

    def truncate(self, step: int) -> None:
        """Drop logged lines beyond ``step``: a resumed run logs those steps again."""
        if self.path is None or not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines(keepends=True) if _step_of(line) <= step]
        write_bytes_atomic(self.path, "".join(kept).encode())  # a crash leaves the old log or the new one, whole

    def waited(self, seconds: float) -> None:
        self.window.data_wait += seconds

    def stepped(self) -> None:
        self.window.steps += 1

    def write(self, step: int, values: dict[str, float], samples_per_step: int, device: torch.device) -> dict[str, Any]:
        """Log ``step`` (1-based: steps done) with loss terms and lr, then start a new window."""
        record: dict[str, Any] = {"step": step, **values, **self.window.rates(samples_per_step)}
        record["peak_memory_bytes"] = peak_memory_bytes(device)
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(self.line(record), file=self.stream, flush=True)
        self.window = Window()
        return record

    def line(self, record: dict[str, Any]) -> str:
        skip = {
            "step",
            "loss",
            "lr",
            "world_size",
            "peak_memory_bytes",
            "steps_per_s",
            "samples_per_s",
            "data_wait_fraction",
            PASSED_OVER,
        }
        terms = " ".join(f"{key} {value:.4f}" for key, value in record.items() if key not in skip)
        if record.get(PASSED_OVER):
            terms += f"  {record[PASSED_OVER]:.0f} volumes passed over"
        return (
            f"step {record['step']}/{self.total_steps}  loss {record['loss']:.4f} ({terms})  lr {record['lr']:.2e}  "
            f"{record['steps_per_s']:.2f} steps/s  {record['samples_per_s']:.1f} samples/s  "
            f"data wait {100 * record['data_wait_fraction']:.0f}%  peak {record['peak_memory_bytes'] / GIB:.2f} GiB"
        )


def _step_of(line: str) -> float:
    """The step of a log line; a line cut short by a crash counts as beyond every step."""
    try:
        return float(json.loads(line)["step"]) if line.endswith("\n") else math.inf
    except (ValueError, KeyError, TypeError):
        return math.inf
