"""`corpus stats`: what went in, what was rejected and why, what a researcher checks first.

Everything comes from the Parquet manifest (and, for the HTML montage, the
small thumbnails stored at build time): no volume is read, so a 160K-row
corpus audits in seconds. The JSON keys are stable; see README "Audit".
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from corpus.acquisition import ACQUISITION_COLUMNS
from corpus.duplicates.groups import near_duplicate_groups
from corpus.duplicates.splits import split_leaks
from corpus.store.manifest import COLUMNS, QC_FLAGS, STATUS_FAILED, STATUS_OK, STATUS_SKIPPED, stored
from corpus.store.reader import Corpus

SHORT_Z_MM = 60.0  # less than this in z: a truncated field of view or a slab
VOLUME_FLAGS = (*QC_FLAGS, "short_z_coverage")  # per stored volume: the build's flags, then the audit's own
GROUP_FLAGS = ("near_duplicates", "split_leaks")  # groups of stored volumes, each with its evidence
ACQUISITION = tuple(column.name for column in ACQUISITION_COLUMNS)
THICKNESS_BINS_MM = (1.0, 2.0, 3.0, 5.0)  # slice thickness counted in (0, 1], (1, 2], (2, 3], (3, 5], above 5 mm
UNKNOWN = "unknown"
AUDITED_COLUMNS = (
    *("volume_id", "source", "status", "reason", "input_format"),
    *("hu_p01", "hu_p50", "hu_p99", "body_fraction", "z_coverage_mm", "stored_bytes", "input_bytes"),
    *("spacing_in", "shape_in", "shape", *QC_FLAGS, *ACQUISITION),
)
_SUMMARY_QUANTILES = {"min": 0, "p05": 5, "p50": 50, "p95": 95, "max": 100}
_TYPES = {column.name: column.type for column in COLUMNS}


def audit(opened: Corpus) -> dict[str, Any]:
    """The whole audit as plain data (the ``--json`` output)."""
    columns = manifest_columns(opened.manifest)
    sources = sorted(set(columns["source"]))
    return {
        "corpus": {
            "url": opened.location.url,
            "spec_hash": opened.spec.hash(),
            "spacing_mm": list(opened.spec.spacing),
        },
        "total": _group(columns, np.ones(len(columns["source"]), dtype=bool)),
        "sources": {name: _group(columns, columns["source"] == name) for name in sources},
        "qc": {**_quality(columns), **_groups(stored(opened.manifest))},
        "labels": label_totals(opened),
    }


def label_totals(opened: Corpus) -> dict[str, dict[str, Any]]:
    """Per label value: its name(s), the labelled volumes holding it, stored voxels and millilitres.

    Counts come from the manifest; names from the label maps' attributes
    (one small read per labelled volume).
    """
    rows = opened.stored().select(["volume_id", "has_labels", "label_set", "label_voxels", "spacing"]).to_pylist()
    totals: dict[int, dict[str, Any]] = {}
    for row in (r for r in rows if r["has_labels"]):
        names = opened.label_names(row["volume_id"])
        millilitres_per_voxel = float(np.prod(row["spacing"])) / 1000.0
        for value, voxels in zip(row["label_set"], row["label_voxels"], strict=True):
            total = totals.setdefault(value, {"names": set(), "volumes": 0, "voxels": 0, "ml": 0.0})
            total["names"].add(names.get(value, ""))
            total["volumes"] += 1
            total["voxels"] += voxels
            total["ml"] += voxels * millilitres_per_voxel
    return {
        str(value): {**total, "names": sorted(n for n in total["names"] if n), "ml": round(total["ml"], 3)}
        for value, total in sorted(totals.items())
    }


def manifest_columns(table: pa.Table, names: tuple[str, ...] = AUDITED_COLUMNS) -> dict[str, np.ndarray]:
    """Manifest columns as numpy arrays, by their declared type: text as objects, numbers as float64
    (missing = NaN), flags as bool, (x, y, z) vectors split into ``<name>_x`` ``_y`` ``_z``."""
    columns = {}
    for name in names:
        kind, values = _TYPES[name], table.column(name).to_pylist()
        if pa.types.is_fixed_size_list(kind):
            stacked = np.array([v if v is not None else [np.nan] * 3 for v in values], dtype=np.float64).reshape(-1, 3)
            columns.update({f"{name}_{letter}": stacked[:, axis] for axis, letter in enumerate("xyz")})
        elif pa.types.is_boolean(kind):
            columns[name] = np.asarray([bool(v) for v in values])
        elif pa.types.is_string(kind):
            columns[name] = np.asarray(values, dtype=object)
        else:
            columns[name] = np.asarray(values, dtype=np.float64)
    return columns


def _group(columns: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    status = columns["status"][rows]
    ok = rows & (columns["status"] == STATUS_OK)
    voxels = np.nansum(columns["shape_x"][ok] * columns["shape_y"][ok] * columns["shape_z"][ok])
    return {
        "inputs": int(rows.sum()),
        STATUS_OK: int(np.sum(status == STATUS_OK)),
        STATUS_SKIPPED: int(np.sum(status == STATUS_SKIPPED)),
        STATUS_FAILED: int(np.sum(status == STATUS_FAILED)),
        "failure_reasons": _ranked(columns["reason"][rows & (columns["status"] == STATUS_FAILED)]),
        "skip_reasons": _ranked(columns["reason"][rows & (columns["status"] == STATUS_SKIPPED)]),
        "input_formats": _ranked(columns["input_format"][ok]),
        "spacing_in_mm": {axis: _summary(columns[f"spacing_in_{axis}"][ok]) for axis in "xyz"},
        "slices_in": _summary(columns["shape_in_z"][ok]),
        "shape_out": {axis: _summary(columns[f"shape_{axis}"][ok]) for axis in "xyz"},
        "z_coverage_mm": _summary(columns["z_coverage_mm"][ok]),
        "hu": {name: _summary(columns[f"hu_{name}"][ok]) for name in ("p01", "p50", "p99")},
        "body_fraction": _summary(columns["body_fraction"][ok]),
        "stored_bytes": int(np.nansum(columns["stored_bytes"][ok])),
        "input_bytes": int(np.nansum(columns["input_bytes"][rows])),
        "voxels": int(voxels),
        "acquisition": {name: _acquisition_counts(name, columns[name][ok]) for name in ACQUISITION},
    }


def _acquisition_counts(name: str, values: np.ndarray) -> dict[str, int]:
    """Stored volumes per value, null as unknown: text most frequent first, kVp and thickness bins in order."""
    if values.dtype.kind != "f":
        return _ranked(np.array([v if v is not None else UNKNOWN for v in values], dtype=object))
    known = values[np.isfinite(values)]
    if name == "slice_thickness_mm":
        labels = np.asarray(_thickness_labels())[np.searchsorted(THICKNESS_BINS_MM, known)]
        counts = {label: int(np.sum(labels == label)) for label in _thickness_labels()}
    else:
        counts = {f"{value:g}": int(count) for value, count in zip(*np.unique(known, return_counts=True), strict=True)}
    counts[UNKNOWN] = len(values) - len(known)
    return {label: count for label, count in counts.items() if count}


def _thickness_labels() -> list[str]:
    """(0, 1], (1, 2], ... then above the last bin edge: np.searchsorted's bins, left edge open."""
    edges = (0.0, *THICKNESS_BINS_MM)
    return [f"{low:g}-{high:g} mm" for low, high in itertools.pairwise(edges)] + [f">{edges[-1]:g} mm"]


def _ranked(values: np.ndarray) -> dict[str, int]:
    return dict(Counter(str(v) for v in values if v).most_common())


def _summary(values: np.ndarray) -> dict[str, float] | None:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    points = np.percentile(finite, list(_SUMMARY_QUANTILES.values()))
    return {name: round(float(v), 4) for name, v in zip(_SUMMARY_QUANTILES, points, strict=True)}


def _quality(columns: dict[str, np.ndarray]) -> dict[str, Any]:
    ok = columns["status"] == STATUS_OK
    ids = columns["volume_id"]
    raised = {name: columns[name] for name in QC_FLAGS} | {"short_z_coverage": columns["z_coverage_mm"] < SHORT_Z_MM}
    return {name: [str(v) for v in ids[ok & raised[name]]] for name in VOLUME_FLAGS}


def _groups(rows: pa.Table) -> dict[str, list[dict[str, Any]]]:
    """Near-duplicate groups (with their evidence) and the groups that cross splits, from the stored rows."""
    near = near_duplicate_groups(rows)
    return {"near_duplicates": near, "split_leaks": split_leaks(rows, near)}


def format_text(report: dict[str, Any], limit: int = 10) -> str:
    """The audit as terminal tables."""
    lines = [f"corpus {report['corpus']['url']}  (spec {report['corpus']['spec_hash']})", ""]
    statuses = f"{STATUS_OK:>10}{STATUS_SKIPPED:>9}{STATUS_FAILED:>8}"
    header = f"{'source':<28}{'inputs':>10}{statuses}{'stored GB':>11}{'Gvoxels':>10}"
    lines += [header, "-" * len(header)]
    groups = [*report["sources"].items(), ("TOTAL", report["total"])]
    for name, group in groups:
        counts = f"{group['inputs']:>10}{group[STATUS_OK]:>10}{group[STATUS_SKIPPED]:>9}{group[STATUS_FAILED]:>8}"
        lines.append(f"{name[:27]:<28}{counts}{group['stored_bytes'] / 1e9:>11.3f}{group['voxels'] / 1e9:>10.3f}")
    lines += _reasons("failures by reason", report["total"]["failure_reasons"])
    lines += _reasons("skipped by reason", report["total"]["skip_reasons"])
    lines += ["", "distributions over stored volumes (p05 / p50 / p95):"]
    for name, group in groups:
        if group[STATUS_OK]:
            lines.append(f"  {name[:26]:<26} {_distribution_line(group)}")
    lines += _acquisition_lines(report["total"]["acquisition"], limit)
    lines += _quality_lines(report["qc"], limit)
    lines += _label_lines(report["labels"])
    return "\n".join(lines)


def _acquisition_lines(acquisition: dict[str, dict[str, int]], limit: int) -> list[str]:
    lines = ["", "acquisition (stored volumes):"]
    for name, counts in acquisition.items():
        shown = ", ".join(f"{value} {count}" for value, count in list(counts.items())[:limit])
        more = f" (+{len(counts) - limit} more)" if len(counts) > limit else ""
        lines.append(f"  {name:<22}{shown}{more}")
    return lines


def _label_lines(labels: dict[str, dict[str, Any]]) -> list[str]:
    if not labels:
        return []
    lines = [
        "",
        "labels (stored voxels over all labelled volumes):",
        f"  {'value':>5}  {'name':<24}{'volumes':>8}{'voxels':>12}{'mL':>11}",
    ]
    for value, total in labels.items():
        name = "/".join(total["names"]) or "-"
        lines.append(f"  {value:>5}  {name[:23]:<24}{total['volumes']:>8}{total['voxels']:>12}{total['ml']:>11.1f}")
    return lines


def _reasons(title: str, reasons: dict[str, int]) -> list[str]:
    if not reasons:
        return []
    return ["", f"{title}:", *[f"  {reason:<24}{count:>8}" for reason, count in reasons.items()]]


def _distribution_line(group: dict[str, Any]) -> str:
    def spread(summary: dict[str, float] | None, digits: int = 1) -> str:
        if summary is None:
            return "-"
        return "/".join(f"{summary[key]:.{digits}f}" for key in ("p05", "p50", "p95"))

    spacing = group["spacing_in_mm"]
    return (
        f"spacing xy {spread(spacing['x'], 2)} z {spread(spacing['z'], 2)} mm | slices {spread(group['slices_in'], 0)}"
        f" | z {spread(group['z_coverage_mm'], 0)} mm | HU p50 {spread(group['hu']['p50'], 0)}"
        f" | body {spread(group['body_fraction'], 2)}"
    )


def _quality_lines(quality: dict[str, Any], limit: int) -> list[str]:
    lines = ["", "quality flags:"]
    for name, found in quality.items():
        shown = [_group_text(group) for group in found[:limit]]
        more = f" (+{len(found) - limit} more)" if len(found) > limit else ""
        lines.append(f"  {name:<22}{len(found):>6}  {'; '.join(shown)}{more}")
    return lines


def _group_text(group: str | dict[str, Any]) -> str:
    """A flagged volume id, or a group's ids and the rules that join them."""
    if isinstance(group, str):
        return group
    rules = {link["rule"] for link in group.get("evidence", [])} | ({group["rule"]} if "rule" in group else set())
    return f"{', '.join(group['volumes'])} ({', '.join(sorted(rules))})"
