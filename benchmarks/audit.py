"""`corpus stats` at scale: a synthetic 160K-row manifest, audited from Parquet alone.

Writes a corpus folder holding corpus.json and manifest parts only (no arrays:
an audit never reads them), then times the terminal/JSON audit and the HTML
report (plots; the montage shows thumbnails where the corpus has them). With
Chromium installed it also renders the HTML report to a PNG screenshot.

    .venv/bin/python benchmarks/audit.py [--rows 160000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import corpus
from corpus.report_html import render_html
from corpus.spec import BuildSpec
from corpus.stats import audit
from corpus.store.location import Location
from corpus.store.manifest import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED, write_part
from corpus.store.meta import ensure_meta

ROWS_PER_PART = 2000
SOURCES = ["btcv", "tcia_covid19", "luna16", "totalseg", "lidc", "nlst", "flare", "ct_rate"]
REASONS = ["truncated", "missing_slices", "not_a_volume", "unreadable"]


def synthesize(out: Path, rows: int, seed: int = 0) -> None:
    shutil.rmtree(out, ignore_errors=True)
    location, spec = Location(str(out)), BuildSpec()
    ensure_meta(location, spec)
    rng = np.random.default_rng(seed)
    for part, start in enumerate(range(0, rows, ROWS_PER_PART)):
        count = min(ROWS_PER_PART, rows - start)
        write_part(location, part, [_row(rng, start + i, spec.hash()) for i in range(count)])


def _reason(rng: np.random.Generator, status: str) -> str:
    if status == STATUS_OK:
        return ""
    return "localizer" if status == STATUS_SKIPPED else str(rng.choice(REASONS))


def _row(rng: np.random.Generator, index: int, spec_hash: str) -> dict[str, object]:
    status = str(rng.choice([STATUS_OK, STATUS_SKIPPED, STATUS_FAILED], p=[0.95, 0.03, 0.02]))
    row: dict[str, object] = {
        "volume_id": f"v{index:07d}",
        "source": SOURCES[index % len(SOURCES)],
        "split": "train",
        "status": status,
        "reason": _reason(rng, status),
        "message": "",
        "input_path": f"case{index}.nii.gz",
        "input_format": "nifti",
        "input_bytes": int(rng.integers(20e6, 200e6)),
        "spec_hash": spec_hash,
        "series_key": f"s{index}",
    }
    if status == STATUS_OK:
        xy, z = float(rng.uniform(0.5, 1.0)), float(rng.choice([0.625, 1.0, 1.25, 2.5, 5.0]))
        shape_in = [512, 512, int(rng.integers(40, 900))]
        shape = [int(512 * xy / 1.5), int(512 * xy / 1.5), int(shape_in[2] * z / 1.5)]
        row.update(
            shard=f"shard-{index // 32:05d}", array=f"v{index:07d}/0", shape=shape, spacing=[1.5] * 3,
            origin=[0.0] * 3, spacing_in=[xy, xy, z], shape_in=shape_in, hu_p01=-1024.0,
            hu_p50=float(rng.normal(-300, 150)), hu_p99=float(rng.normal(900, 200)),
            body_fraction=float(rng.uniform(0.2, 0.7)), z_coverage_mm=shape[2] * 1.5,
            suspect_non_ct=bool(rng.random() < 0.001), suspect_orientation=bool(rng.random() < 0.001),
            stored_bytes=int(np.prod(shape) * 0.6), checksum=f"blake2b:{index}", modality="CT",
        )  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=160_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ct-corpus-audit-bench")
    args = parser.parse_args()
    out = args.work / "corpus"
    synthesize(out, args.rows)
    started = time.perf_counter()
    opened = corpus.open(str(out))
    report = audit(opened)
    audit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    page = render_html(report, opened)
    html_seconds = time.perf_counter() - started
    (args.work / "report.html").write_text(page, encoding="utf-8")
    result = {
        "rows": args.rows,
        "audit_s": round(audit_seconds, 2),
        "html_s": round(html_seconds, 2),
        "html_bytes": len(page),
        "stored_volumes": report["total"][STATUS_OK],
    }
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        result["screenshot"] = str(_screenshot(chromium, args.work / "report.html", args.work / "report.png"))
    print(json.dumps(result, indent=2))


def _screenshot(chromium: str, page: Path, png: Path) -> Path:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += [f"--user-data-dir={page.parent / 'chromium-profile'}", "--window-size=1400,2400", f"--screenshot={png}"]
    subprocess.run([chromium, *flags, page.as_uri()], check=True, capture_output=True, timeout=120)
    return png


if __name__ == "__main__":
    main()
