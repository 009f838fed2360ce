"""`corpus stats --html`: one self-contained page with tables, plots and a thumbnail montage."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

from corpus.stats import ACQUISITION, VOLUME_FLAGS, format_text, manifest_columns
from corpus.store.manifest import STATUS_OK
from corpus.store.reader import Corpus
from corpus.store.thumbnails import VIEWS, read_thumbnails

MONTAGE_SIZE = 48
GROUPS_SHOWN = 20  # near-duplicate groups shown side by side
_HISTOGRAMS = (
    ("spacing_in_x", "in-plane spacing (mm)"),
    ("spacing_in_z", "slice spacing (mm)"),
    ("shape_in_z", "slices"),
    ("z_coverage_mm", "z coverage (mm)"),
    ("hu_p50", "median HU"),
    ("body_fraction", "body fraction"),
)
_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
pre{background:#f6f6f6;padding:12px;overflow-x:auto;font-size:12px}
.montage{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;padding:6px;border:1px solid #ddd;background:#111;color:#eee;font-size:11px}
figure.flagged{border:2px solid #e33}
figure img{display:inline-block;vertical-align:top;margin-right:2px;background:#000}
figcaption{max-width:400px;overflow-wrap:anywhere}
.group{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start;margin-bottom:6px}
.evidence{font-size:12px;color:#444;margin:0 0 18px 0}
"""


def render_html(report: dict[str, Any], opened: Corpus, seed: int = 0) -> str:
    """The audit as one HTML document (images inlined as data URIs)."""
    columns = manifest_columns(opened.manifest)
    flagged = {v for key in VOLUME_FLAGS for v in report["qc"][key]}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>corpus audit</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Corpus audit</h1><p>{html.escape(report['corpus']['url'])}</p>",
        f"<h2>Summary</h2><pre>{html.escape(format_text(report))}</pre>",
        "<h2>Inputs not stored, by reason</h2>",
        _image(_reasons_figure(report["total"])),
        "<h2>Distributions per source (stored volumes)</h2>",
        _image(_histograms_figure(columns)),
        "<h2>Acquisition (stored volumes)</h2>",
        _image(_acquisition_figure(report["total"]["acquisition"])),
        "<h2>Near duplicates, side by side</h2>",
        _near_duplicates(opened, report["qc"]["near_duplicates"]),
        "<h2>Thumbnails (axial, coronal, sagittal mid-slices)</h2>",
        _montage(opened, columns, flagged, seed),
        "</body></html>",
    ]
    return "\n".join(parts)


def _reasons_figure(total: dict[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    reasons = {f"failed: {k}": v for k, v in total["failure_reasons"].items()}
    reasons |= {f"skipped: {k}": v for k, v in total["skip_reasons"].items()}
    figure, axes = plt.subplots(figsize=(7, 0.4 * max(len(reasons), 1) + 1))
    if reasons:
        axes.barh(
            list(reasons)[::-1],
            list(reasons.values())[::-1],
            color=["#c33" if k.startswith("f") else "#999" for k in reasons][::-1],
        )
        axes.set_xlabel("inputs")
    else:
        axes.text(0.5, 0.5, "every input was stored", ha="center", va="center")
        axes.set_axis_off()
    figure.tight_layout()
    return _png(figure)


def _histograms_figure(columns: dict[str, np.ndarray]) -> bytes:
    import matplotlib.pyplot as plt

    ok = columns["status"] == STATUS_OK
    figure, axes = plt.subplots(2, 3, figsize=(13, 7))
    for axis, (name, label) in zip(axes.ravel(), _HISTOGRAMS, strict=True):
        values = columns[name]
        finite = values[ok & np.isfinite(values)]
        bins = np.histogram_bin_edges(finite, bins=30) if len(finite) else 10
        for source in sorted(set(columns["source"][ok])):
            chosen = values[ok & (columns["source"] == source) & np.isfinite(values)]
            axis.hist(chosen, bins=bins, alpha=0.6, label=source)
        axis.set_xlabel(label)
        axis.set_ylabel("volumes")
    axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)


def _acquisition_figure(acquisition: dict[str, dict[str, int]], shown: int = 8) -> bytes:
    """One bar chart per acquisition column: stored volumes per value, the most frequent first."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 4, figsize=(16, 7))
    for axis, name in zip(axes.ravel(), ACQUISITION, strict=True):
        counts = list(acquisition[name].items())[:shown]
        axis.barh([value for value, _ in counts][::-1], [count for _, count in counts][::-1], color="#48a")
        axis.set_title(name, fontsize=10)
        axis.tick_params(labelsize=8)
    figure.tight_layout()
    return _png(figure)


def _near_duplicates(opened: Corpus, groups: list[dict[str, Any]]) -> str:
    """Each group's volumes side by side (thumbnails stored at build time), with the links that join them."""
    if not groups:
        return "<p>No near duplicates.</p>"
    shown = groups[:GROUPS_SHOWN]
    images = read_thumbnails(opened.location, [v for group in shown for v in group["volumes"]])
    parts = [
        f"<p>{len(groups)} group(s){f', the first {GROUPS_SHOWN} shown' if len(groups) > GROUPS_SHOWN else ''}.</p>"
    ]
    for group in shown:
        tiles = "".join(_tile(volume_id, images.get(volume_id, {}), "") for volume_id in group["volumes"])
        parts.append(f"<div class='group'>{tiles}</div><p class='evidence'>{_evidence_text(group)}</p>")
    return "".join(parts)


def _evidence_text(group: dict[str, Any]) -> str:
    lines = []
    for link in group["evidence"]:
        scores = ", ".join(f"{k} {v}" for k, v in link.items() if k not in ("rule", "volumes"))
        lines.append(f"{link['rule']}: {' = '.join(link['volumes'])}{f' ({scores})' if scores else ''}")
    return "<br>".join(html.escape(line) for line in lines)


def _tile(volume_id: str, views: dict[str, bytes], css: str) -> str:
    pictures = "".join(
        f"<img alt='{view}' title='{view}' src='data:image/png;base64,{base64.b64encode(views[view]).decode()}'>"
        for view in VIEWS
        if view in views
    )
    return f"<figure{css}>{pictures}<figcaption>{html.escape(volume_id)}</figcaption></figure>"


def _montage(opened: Corpus, columns: dict[str, np.ndarray], flagged: set[str], seed: int) -> str:
    ids = [str(v) for v in columns["volume_id"][columns["status"] == STATUS_OK]]
    picked = (
        ids
        if len(ids) <= MONTAGE_SIZE
        else sorted(np.random.default_rng(seed).choice(ids, MONTAGE_SIZE, replace=False))
    )
    shown_flags = sorted(flagged & set(ids))[: MONTAGE_SIZE // 2]  # flagged volumes first, within reason
    picked = sorted(set(picked) | set(shown_flags))
    images = read_thumbnails(opened.location, picked)
    tiles = [_tile(v, images.get(v, {}), " class='flagged'" if v in flagged else "") for v in picked]
    note = f"<p>{len(picked)} of {len(ids)} stored volumes; red frame: a quality flag.</p>"
    return note + "<div class='montage'>" + "".join(tiles) + "</div>"


def _png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def _image(png: bytes) -> str:
    return f"<img alt='plot' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
