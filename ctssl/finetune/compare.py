"""`corpus finetune --compare A B`: two runs' validation Dice side by side (no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS = "metrics.json"  # written by ctssl.finetune.loop


def read_metrics(run: Path) -> dict[str, Any]:
    path = run / METRICS if run.is_dir() else run
    if not path.is_file():
        raise ValueError(f"{path} not found: --compare takes two fine-tuning run folders (or their {METRICS})")
    metrics: dict[str, Any] = json.loads(path.read_text())
    return metrics


def format_comparison(a: Path, b: Path) -> str:
    """Per class: the final and best Dice of each run, the start (step 0), and what each loaded."""
    left, right = read_metrics(a), read_metrics(b)
    names = list(dict.fromkeys([*_names(left), *_names(right)]))
    header = f"{'':<22}{_label(a, left):>30}{_label(b, right):>30}"
    lines = [header, "-" * len(header)]
    lines.append(f"{'weights':<22}{_weights(left):>30}{_weights(right):>30}")
    lines.append(f"{'steps':<22}{_last_step(left):>30}{_last_step(right):>30}")
    for title, key in (("start (step 0)", "start"), ("final", "final"), ("best", "best")):
        lines.append(f"{'mean Dice ' + title:<22}{_mean(left, key):>30}{_mean(right, key):>30}")
    lines.append("final Dice per class:")
    for name in names:
        lines.append(f"  {name:<20}{_class(left, name):>30}{_class(right, name):>30}")
    return "\n".join(lines)


def _names(metrics: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in metrics["classes"].values()]


def _label(path: Path, metrics: dict[str, Any]) -> str:
    return (path.name or str(path))[-28:]


def _weights(metrics: dict[str, Any]) -> str:
    load = metrics.get("load")
    if not load:
        return "scratch"
    return f"{load['filled']}/{load['model_keys']} keys loaded"


def _entry(metrics: dict[str, Any], key: str) -> dict[str, Any] | None:
    if key == "start":
        starts = [e for e in metrics["history"] if e["step"] == 0]
        return starts[0] if starts else None
    entry: dict[str, Any] | None = metrics.get(key)
    return entry


def _last_step(metrics: dict[str, Any]) -> str:
    final = metrics.get("final")
    return str(final["step"]) if final else "-"


def _mean(metrics: dict[str, Any], key: str) -> str:
    entry = _entry(metrics, key)
    if entry is None or entry["mean_dice"] is None:
        return "-"
    return f"{entry['mean_dice']:.4f}" + (f" @{entry['step']}" if key == "best" else "")


def _class(metrics: dict[str, Any], name: str) -> str:
    final = metrics.get("final") or {"dice": {}}
    value = final["dice"].get(name)
    return "-" if value is None else f"{value:.4f}"
