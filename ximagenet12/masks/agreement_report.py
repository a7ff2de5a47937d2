"""The agreement report on disk: per-source Parquet, summary CSV, a Markdown report, settings JSON and pictures.

Files (one folder): `agreement.parquet` (one row per source and pair of sets), `agreement.csv`
(mean and median of every measure with bootstrap intervals, per pair and class, with the least
agreeing sources), `agreement.md` (the same for people, with unmatched sources and problems),
`agreement.json` (settings, sets, counts, library versions, everything left out),
`agreement.png` (distributions) and `agreement_gallery.png` (the worst disagreements, both
outlines over the photo). Cells without a value are empty (CSV) or '–' (Markdown), never NaN.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import XImageNet12Error
from ..provenance import atomic_target, canonical_json, library_versions, write_atomic
from .set_agreement import ALL_CLASSES, METRICS, Agreement, Summary

TOOL = "ximagenet12 agreement"
OUTPUTS = ("agreement.parquet", "agreement.csv", "agreement.md", "agreement.json", "agreement.png",
           "agreement_gallery.png")
LABELS = {"iou": "IoU", "dice": "Dice", "boundary_f": "boundary F", "hd95": "HD95 (px)", "area_ratio": "area ratio B/A",
          "centroid_shift": "centroid shift (px)"}
LISTED = 50  # unmatched sources and problems listed in the Markdown; all are in the JSON
CITATIONS = (
    "IoU, Dice and the boundary F-measure follow DAVIS (Perazzi et al., \"A Benchmark Dataset and Evaluation "
    "Methodology for Video Object Segmentation\", CVPR 2016): boundaries are `seg2bmap` maps, a boundary pixel "
    "matches when the other boundary lies within the tolerance. HD95 is the larger of the two directed "
    "95th-percentile boundary distances (the partial Hausdorff distance of Huttenlocher et al., IEEE TPAMI 1993, "
    "at the 95th percentile as in BraTS, Menze et al., IEEE TMI 2015). Area ratio is |B| / |A|; centroid shift "
    "the distance between the masks' centroids."
)


def check_out(out: Path) -> None:
    """Refuse an output folder holding report files this command did not write (one line naming the file)."""
    marker = out / "agreement.json"
    present = [name for name in OUTPUTS if (out / name).exists()]
    if not present:
        return
    try:
        ours = json.loads(marker.read_text(encoding="utf-8")).get("tool") == TOOL
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise XImageNet12Error(f"{out / present[0]}: exists and was not written by `{TOOL}`: "
                               "choose another --out or move it away")


def _number(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if metric in ("hd95", "centroid_shift") else f"{value:.3f}"


def _with_interval(s: Summary, which: str) -> str:
    value, low, high = (getattr(s, which), getattr(s, f"{which}_low"), getattr(s, f"{which}_high"))
    if value is None:
        return "–"
    return f"{_number(value, s.metric)} [{_number(low, s.metric)}, {_number(high, s.metric)}]"


def _table(header: list[str], rows: list[list[str]], align: str) -> str:
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def pairs_markdown(result: Agreement) -> str:
    """Per pair of sets, all classes: IoU and boundary F with intervals, the rest by median."""
    rows = []
    for a, b in result.pairs:
        if not any((r["set_a"], r["set_b"]) == (a, b) for r in result.rows):
            rows.append([f"{a} vs {b}", "0", *["–"] * 7])
            continue
        s = {m: result.summary(a, b, m) for m in METRICS}
        rows.append([
            f"{a} vs {b}", str(s["iou"].n), _with_interval(s["iou"], "mean"), _with_interval(s["iou"], "median"),
            _with_interval(s["boundary_f"], "mean"), _with_interval(s["boundary_f"], "median"),
            _with_interval(s["hd95"], "median"), _number(s["area_ratio"].median, "area_ratio"),
            _number(s["centroid_shift"].median, "centroid_shift"),
        ])
    header = ["pair", "n", "IoU mean [95% CI]", "IoU median [95% CI]", "boundary F mean [95% CI]",
              "boundary F median [95% CI]", "HD95 px median [95% CI]", "area ratio B/A median",
              "centroid shift px median"]
    return _table(header, rows, "lrrrrrrrr")


def classes_markdown(result: Agreement, a: str, b: str) -> str:
    """Per class for one pair of sets, with its least agreeing sources."""
    rows = []
    for wnid in sorted({s.wnid for s in result.summaries if (s.set_a, s.set_b) == (a, b)} - {ALL_CLASSES}):
        s = {m: result.summary(a, b, m, wnid) for m in METRICS}
        worst = ", ".join(f"`{sid}`" for sid in result.worst.get((a, b, wnid), []))
        rows.append([f"{s['iou'].class_name} (`{wnid}`)", str(s["iou"].n), _with_interval(s["iou"], "mean"),
                     _number(s["iou"].median, "iou"), _with_interval(s["boundary_f"], "mean"),
                     _number(s["boundary_f"].median, "boundary_f"), _number(s["hd95"].median, "hd95"), worst])
    header = ["class", "n", "IoU mean [95% CI]", "IoU median", "boundary F mean [95% CI]", "boundary F median",
              "HD95 px median", "least agreeing"]
    return _table(header, rows, "lrrrrrrl")


def worst_markdown(result: Agreement, count: int) -> str:
    """The least agreeing sources of every pair (lowest IoU first)."""
    by_key = {(r["set_a"], r["set_b"], r["source_id"]): r for r in result.rows}
    rows = []
    for a, b in result.pairs:
        for sid in result.worst.get((a, b, ALL_CLASSES), [])[:count]:
            r = by_key[(a, b, sid)]
            rows.append([f"{a} vs {b}", f"`{sid}`", r["class_name"], _number(r["iou"], "iou"),
                         _number(r["boundary_f"], "boundary_f"), _number(r["hd95"], "hd95"),
                         _number(r["area_ratio"], "area_ratio"), _number(r["centroid_shift"], "centroid_shift"),
                         r["note"] or ""])
    header = ["pair", "source", "class", "IoU", "boundary F", "HD95 px", "area ratio B/A", "centroid shift px", "note"]
    return _table(header, rows, "lllrrrrrl")


def _tolerance_text(result: Agreement) -> str:
    tolerance = result.settings["tolerance"]
    pixels = sorted({r["tolerance_px"] for r in result.rows})
    used = f" ({', '.join(map(str, pixels))} px on these images)" if pixels else ""
    if tolerance < 1:
        return f"{tolerance:g} of the image diagonal, rounded up{used}"
    return f"{tolerance:g} px"


def markdown(result: Agreement, *, figures: bool = True) -> str:
    """The whole report as Markdown."""
    st = result.settings
    sets = _table(["set", "path", "kind", "masks"],
                  [[s["name"], f"`{s['path']}`", s["kind"], str(s["masks"])] for s in st["sets"]], "lllr")
    parts = [
        "# Mask agreement", "",
        sets, "",
        f"Sources compared: {len({r['source_id'] for r in result.rows})}; unmatched (missing from some set): "
        f"{len(result.unmatched)}; problems: {len(result.problems)}. Boundary tolerance: {_tolerance_text(result)}. "
        f"Intervals: {st['confidence']:.0%} percentile bootstrap over sources, {st['resamples']} resamples, "
        f"seed {st['seed']}.", "",
        "## Per pair of sets", "", pairs_markdown(result), "",
    ]
    for a, b in result.pairs:
        parts += [f"## Per class: {a} vs {b}", "", classes_markdown(result, a, b), ""]
    parts += ["## Least agreeing sources", "", worst_markdown(result, st["worst"]), ""]
    if figures:
        parts += ["![IoU and boundary F per pair and class](agreement.png)", "",
                  "![The least agreeing sources, both outlines over the photo](agreement_gallery.png)", ""]
    if result.unmatched:
        rows = [[f"`{u.source_id}`", ", ".join(u.present), ", ".join(u.missing)] for u in result.unmatched[:LISTED]]
        more = f" (first {LISTED}; all in agreement.json)" if len(result.unmatched) > LISTED else ""
        parts += [f"## Unmatched sources{more}", "", _table(["source", "in", "missing from"], rows, "lll"), ""]
    if result.problems:
        rows = [[f"`{p.file}`", p.reason.replace("|", "\\|")] for p in result.problems[:LISTED]]
        more = f" (first {LISTED}; all in agreement.json)" if len(result.problems) > LISTED else ""
        parts += [f"## Problems{more}", "", _table(["file", "left out because"], rows, "ll"), ""]
    parts += ["## Definitions", "", CITATIONS, ""]
    return "\n".join(parts)


def summary_csv(result: Agreement) -> str:
    """Every summary as CSV (empty cell where a value is undefined), with the least agreeing sources."""
    buffer = io.StringIO()
    fields = list(Summary.__dataclass_fields__)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*fields, "least_agreeing"])
    for s in result.summaries:
        record = s.to_dict()
        worst = " ".join(result.worst.get((s.set_a, s.set_b, s.wnid), []))
        writer.writerow(["" if record[f] is None else record[f] for f in fields] + [worst])
    return buffer.getvalue()


def settings_json(result: Agreement, written: list[str]) -> str:
    """Settings, sets, counts, library versions and everything left out, as canonical JSON."""
    return canonical_json({
        "tool": TOOL,
        "settings": result.settings,
        "counts": {"rows": len(result.rows), "sources": len({r["source_id"] for r in result.rows}),
                   "unmatched": len(result.unmatched), "problems": len(result.problems)},
        "classes": result.class_names,
        "unmatched": [u.to_dict() for u in result.unmatched],
        "problems": [p.to_dict() for p in result.problems],
        "outputs": written,
        "versions": library_versions(["ximagenet12", "numpy", "opencv-python-headless", "pyarrow", "matplotlib"],
                                     python=True),
    })


def write_report(
    result: Agreement, out: str | Path, *, images: Mapping[str, str] | None = None, gallery: int = 8,
    figures: bool = True,
) -> list[Path]:
    """Write every report file into `out` (created if needed); returns the paths written.

    `images` maps source ids to photos for the gallery, on top of those the sets know; without
    `figures` the two PNGs are not drawn (they need matplotlib, the 'eval' extra).
    """
    import pyarrow.parquet as pq

    out = Path(out)
    check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    parquet = out / "agreement.parquet"
    with atomic_target(parquet) as tmp:
        pq.write_table(result.table(), tmp)
    written.append(parquet)
    written.append(write_atomic(out / "agreement.csv", summary_csv(result)))
    if figures:
        from .agreement_figures import write_distributions, write_gallery

        photos = {sid: path for s in result.sets for sid, path in s.images.items()}
        photos.update(images or {})
        written.append(write_distributions(result, out / "agreement.png"))
        written.append(write_gallery(result, out / "agreement_gallery.png", photos, count=gallery))
    written.append(write_atomic(out / "agreement.md", markdown(result, figures=figures)))
    marker = out / "agreement.json"
    written.append(write_atomic(marker, settings_json(result, [p.name for p in [*written, marker]])))
    return written
