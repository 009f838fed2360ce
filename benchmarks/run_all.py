"""Run every benchmark, keep the results as JSON, and regenerate the tables in BENCHMARKS.md.

    .venv/bin/python benchmarks/run_all.py            # small: minutes on 2 cores
    .venv/bin/python benchmarks/run_all.py --full     # the sizes BENCHMARKS.md reports
    .venv/bin/python benchmarks/run_all.py --only ingest loader

Each benchmark checks its two sides computed the same thing before it reports
a ratio (it fails otherwise). Results go to benchmarks/results/<name>.json with
the machine, date and versions; each table in BENCHMARKS.md sits between
``<!-- table:NAME -->`` markers and is replaced by the new numbers, the prose
around it is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TIMES = "\u00d7"  # the multiplication sign of the tables
RESULTS = HERE / "results"
BENCHMARKS_MD = HERE.parent / "BENCHMARKS.md"
RUNS: dict[str, tuple[list[str], list[str]]] = {  # name: (small arguments, full arguments)
    "dicom_ingest": (["--repeat", "1"], ["--repeat", "3"]),
    "ingest": (["--large", "0", "--repeat", "1"], ["--large", "1", "--repeat", "5"]),
    "loader": (["--volumes", "2", "--samples", "10"], ["--volumes", "3", "--samples", "40"]),
    "audit": (["--rows", "20000"], ["--rows", "160000"]),
    "near_duplicates": (["--rows", "1000", "10000"], ["--rows", "1000", "10000", "40000", "160000"]),
    "build_scaling": (["--volumes", "6"], ["--volumes", "24"]),
    "pretrain": (
        ["--steps", "20", "--warmup", "10", "--workers", "1"],
        ["--steps", "50", "--warmup", "10", "--workers", "1"],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the sizes BENCHMARKS.md reports")
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), default=sorted(RUNS))
    parser.add_argument("--no-tables", action="store_true", help="keep JSON only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in args.only:
        small, full = RUNS[name]
        print(f"== {name}", flush=True)
        results = run(name, full if args.full else small)
        (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta(args.full), "results": results}, indent=2))
        if args.full and not args.no_tables:  # the prose describes the full sizes: small runs keep JSON only
            replace_table(name, TABLES[name](results))
    print(f"results: {RESULTS}" + (f"; tables updated in {BENCHMARKS_MD.name}" if args.full else ""))


def run(name: str, arguments: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(HERE / f"{name}.py"), *arguments], check=True, capture_output=True, text=True
    )
    return parse_json(done.stdout)


def parse_json(text: str) -> list[dict[str, Any]]:
    """The JSON a benchmark printed: one object, or one object per line."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def meta(full: bool) -> dict[str, Any]:
    packages = ["numpy", "scipy", "numba", "isal", "zarr", "nibabel", "pydicom", "simpleitk", "monai", "torch"]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "size": "full" if full else "small",
        "versions": {name: version(name) for name in packages},
    }


def replace_table(name: str, table: str) -> None:
    text = BENCHMARKS_MD.read_text()
    pattern = re.compile(rf"(<!-- table:{name} -->\n).*?(<!-- /table:{name} -->)", re.S)
    if not pattern.search(text):
        print(f"   (no <!-- table:{name} --> block in {BENCHMARKS_MD.name}; results kept in JSON only)")
        return
    BENCHMARKS_MD.write_text(pattern.sub(lambda m: m.group(1) + table + m.group(2), text))


def _rows(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def dicom_table(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["series"],
            r["ours_s"],
            r["monai_s"],
            f"{r['speedup']}{TIMES}",
            r["mean_abs_diff_hu"],
            f"{r['shape']} / {r['monai_shape']}",
        ]
        for r in results
        if "series" in r
    ]
    return _rows(["series", "ours (s)", "MONAI (s)", "speed-up", "mean abs. diff. (HU)", "shapes (ours / MONAI)"], rows)


def ingest_table(results: list[dict[str, Any]]) -> str:
    rows = [_ingest_row(r) for r in results if "input" in r and "ours_s" in r]
    header = [
        "input",
        "voxels in",
        "decode (s)",
        "ct-corpus (s)",
        "SimpleITK (s)",
        "MONAI (s)",
        "ct-corpus / SimpleITK",
        "MONAI / ct-corpus",
        "ct-corpus / decode",
        "mean abs. diff. SimpleITK, MONAI (HU)",
    ]
    memory = next((r for r in results if "peak_memory_mb" in r), None)
    table = _rows(header, rows)
    if memory:
        table += f"\nPeak memory of one worker ({memory['input']}): {memory['peak_memory_mb']} MB.\n"
    return table + "\n" + _profile_table(results)


def _ingest_row(r: dict[str, Any]) -> list[object]:
    sides = ("simpleitk", "monai")
    differences = ", ".join(f"{r['mean_abs_diff_hu'][s]}" + ("" if r["same_computation"][s] else "*") for s in sides)
    return [
        r["input"] + (f" ({r['unmodelled']}*)" if r["unmodelled"] else ""),
        f"{r['voxels_in'] / 1e6:.1f}M",
        r["decode_s"],
        r["ours_s"],
        r["simpleitk_s"],
        r["monai_s"],
        r["ours_vs_simpleitk"],
        f"{r['monai_vs_ours']}{TIMES}",
        f"{r['ours_vs_decode']}{TIMES}",
        differences,
    ]


def _profile_table(results: list[dict[str, Any]]) -> str:
    profiles = [r for r in results if "profile" in r]
    if not profiles:
        return ""
    parts = list(profiles[0]["seconds"])
    rows = [[r["profile"], *[r["seconds"][part] for part in parts]] for r in profiles]
    return "Seconds per part of ct-corpus's ingest (each part timed alone):\n\n" + _rows(["input", *parts], rows)


def loader_table(results: list[dict[str, Any]]) -> str:
    r = results[0]
    rate, size, ratio = r["samples_per_s"], r["bytes_per_volume"], r["speedup_vs"]
    rows = [
        ["ct-corpus `RegionDataset`", rate["corpus"], "—", f"{size['corpus'] / 1e6:.1f} MB"],
        [
            "(a) MONAI on the fly",
            rate["monai"],
            f"{ratio['monai']}{TIMES} faster",
            f"{size['source_nii_gz'] / 1e6:.1f} MB (source)",
        ],
        [
            "(b) MONAI PersistentDataset",
            rate["persistent"],
            f"{ratio['persistent']}{TIMES}",
            f"{size['persistent'] / 1e6:.1f} MB",
        ],
        ["(c) memory-mapped .npy", rate["npy"], f"{ratio['npy']}{TIMES}", f"{size['npy'] / 1e6:.1f} MB"],
        ["PCRLv2-style offline crops (36 float64 64x64x32)", "—", "—", f"{size['pcrlv2_crops'] / 1e6:.1f} MB"],
    ]
    return _rows(["loader", "samples/s", "ct-corpus vs it", "bytes per volume"], rows)


def audit_table(results: list[dict[str, Any]]) -> str:
    r = results[0]
    return _rows(["rows", "audit (s)", "HTML (s)"], [[r["rows"], r["audit_s"], r["html_s"]]])


def near_duplicates_table(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"{r['rows']:,}",
            f"{r['search_s']} ({r['search_cpu_s']} CPU)",
            r["seconds_per_1k"],
            f"{r['index_s']} ({r['index_cpu_s']} CPU)",
            f"{r['candidate_pairs']:,} of {r['all_pairs']:,}",
            f"{r['planted_found']} of {r['planted_pairs']}",
            r["false_pairs"],
            r["peak_memory_mb"],
        ]
        for r in results
    ]
    header = [
        "volumes",
        "search (s)",
        "s per 1K",
        "token index (s)",
        "pairs aligned",
        "copies found",
        "false pairs",
        "peak MB",
    ]
    return _rows(header, rows)


def scaling_table(results: list[dict[str, Any]]) -> str:
    r = results[0]
    rows = [
        ["1 (in process)", r["seconds"]["1_worker"], r["volumes_per_s"]["1_worker"]],
        ["2 (local dask processes)", r["seconds"]["2_workers"], r["volumes_per_s"]["2_workers"]],
    ]
    return _rows(["workers", "seconds", "volumes/s"], rows) + f"\nScaling efficiency: {r['scaling_efficiency']}.\n"


def pretrain_table(results: list[dict[str, Any]]) -> str:
    r = results[0]
    rows = [
        [
            label,
            run["steps_per_s"],
            run["samples_per_s"],
            f"{100 * run['data_wait_fraction']:.1f}%",
            run["peak_memory_gib"],
        ]
        for label, run in (("corpus loader", r["corpus_loader"]), ("same batch from memory", r["synthetic_in_memory"]))
    ]
    header = ["feed", "steps/s", "samples/s", "data wait", "peak memory (GiB)"]
    setting = f"{r['method']} ({r['size']}), batch {r['batch_size']}, {r['workers']} loader worker(s), {r['machine']}"
    return _rows(header, rows) + f"\nLoader efficiency {r['loader_efficiency']} ({setting}).\n"


TABLES: dict[str, Callable[[list[dict[str, Any]]], str]] = {
    "dicom_ingest": dicom_table,
    "ingest": ingest_table,
    "loader": loader_table,
    "audit": audit_table,
    "near_duplicates": near_duplicates_table,
    "build_scaling": scaling_table,
    "pretrain": pretrain_table,
}


if __name__ == "__main__":
    main()
