"""What explain writes: explanations.parquet, explain_summary.json, explain_report.md, two CSV tables, the gallery."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from ...provenance import write_atomic
from .. import predictions as preds
from ..challenge import decode_mask
from ..reports import FLAG, FLAG_NOTE, markdown_table, write_summary
from ..robustness import REFERENCE
from ..source import BuildSource
from .metrics import DEFINITIONS, METRICS
from .tables import CHANCE, FOCUS, Cell, ExplainAnalysis

if TYPE_CHECKING:
    from .runner import ExplanationResult

TITLES = {"relevance_mass": "relevance mass", "rank_accuracy": "rank accuracy", "pointing_game": "pointing game",
          "energy_pointing_game": "energy pointing game"}
METHOD_NAMES = {"gradcam": "Grad-CAM", "ig": "integrated gradients", "occlusion": "occlusion"}


def _number(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def cell_text(cell: Cell | None, *, chance: bool = False, n: bool = False) -> str:
    """'0.62 [0.55, 0.70]' (with '(n)' and the chance level if asked); flagged when n < MEANINGFUL_N."""
    if cell is None or cell.mean is None:
        return "–"
    text = f"{_number(cell.mean)} [{_number(cell.ci_low)}, {_number(cell.ci_high)}]"
    if n:
        text += f" ({cell.n})"
    if chance and cell.chance is not None:
        text += f" / {_number(cell.chance)}"
    return text if cell.meaningful else f"{text} {FLAG}"


def shift_text(cell: Cell | None) -> str:
    """'+0.05 [-0.02, +0.11]' or '–'."""
    if cell is None or cell.shift is None:
        return "–"
    return f"{_number(cell.shift, sign=True)} [{_number(cell.shift_ci_low, sign=True)}, " \
           f"{_number(cell.shift_ci_high, sign=True)}]"


def scenario_markdown(analysis: ExplainAnalysis) -> str:
    """Each measure per scenario: mean [95% CI] / chance level, with n."""
    header = ["scenario", "n", *(f"{TITLES[m]} / chance" for m in METRICS)]
    rows = []
    for config in analysis.configs:
        cells = analysis.cells[config]
        rows.append([f"`{config}`", str(cells[FOCUS].n), *(cell_text(cells[m], chance=True) for m in METRICS)])
    return markdown_table(header, rows, "lr" + "r" * len(METRICS))


def shift_markdown(analysis: ExplainAnalysis) -> str:
    """Each measure's shift from `original`, paired by source, with its interval."""
    rows = [[f"`{c}`", *(shift_text(analysis.cells[c][m]) for m in METRICS)]
            for c in analysis.configs if c != REFERENCE]
    return markdown_table(["scenario", *(f"Δ {TITLES[m]}" for m in METRICS)], rows, "l" + "r" * len(METRICS))


def class_markdown(analysis: ExplainAnalysis) -> str:
    """Relevance mass per class x scenario: mean (n)."""
    rows = []
    for label, cells in analysis.classes.items():
        row = [analysis.class_names[label]]
        for config in analysis.configs:
            cell = cells.get(config)
            row.append("–" if cell is None or cell.mean is None else
                       f"{_number(cell.mean)} ({cell.n}){'' if cell.meaningful else ' ' + FLAG}")
        rows.append(row)
    return markdown_table(["class", *(f"`{c}`" for c in analysis.configs)], rows, "l" + "r" * len(analysis.configs))


def method_line(summary: dict) -> str:
    """One line saying which method, layer or baseline, and target."""
    a = summary["attribution"]
    text = f"{METHOD_NAMES[a['method']]} (`{a['captum']}`, Captum {a['captum_version']})"
    if a["method"] == "gradcam":
        layer = a["layer"]
        text += f" on the {layer['point']} of `{layer['name']}` ({layer['how']})"
    else:
        text += f", baseline {a['baseline']} (RGB {[round(v, 1) for v in a['baseline_rgb']]})"
    if a["method"] == "ig":
        text += f", {a['steps']} steps"
    if a["method"] == "occlusion":
        text += f", window {a['window']} px, stride {a['stride']} px"
    return text + f"; target: {a['target_rule']}"


MEANING = """\
Each cell is the mean over images, [95% bootstrap interval over source images], then `/` the chance level:
what a map spread evenly over the pixels the model saw would score (the object's share of them for relevance
mass and rank accuracy, the share within the tolerance of the object for the pointing game, the share of the
object's bounding box for the energy pointing game). A value near its chance level says the attribution
ignores where the object is; above it, the attribution sits on the object; below it, on the background. The
numbers describe the attribution method's map of this model, not the model alone: methods disagree, and a
map is not proof of what a model uses."""


def report_markdown(result: ExplanationResult, gallery: str | None) -> str:
    """The human-readable report."""
    summary, analysis = result.summary, result.analysis
    model, data, pre = summary["model"], summary["dataset"], summary["preprocessing"]
    measures = summary["measures"]
    lines = [
        f"# XImageNet-12 explanations: `{model.get('spec', '?')}`",
        "",
        f"- data: `{data['location']}`, split `{data['split']}`, manifest sha256 `{data['manifest_sha256'][:12]}…`",
        f"- method: {method_line(summary)}",
        f"- preprocessing ({pre['origin']}): {pre['resize_mode']} {pre['resize']}, centre crop {pre['crop']}, "
        f"{pre['interpolation']}; maps carried back to the stored pixels through this resize and crop",
        f"- measures over the stored pixels the crop covers, on positive attribution; pointing-game tolerance "
        f"{measures['tolerance_px']:g} px",
    ]
    convergence = summary["results"].get("convergence")
    if convergence and convergence["median"] is not None:
        lines.append(f"- integrated gradients' completeness error (|sum of attributions − logit difference| / "
                     f"|logit difference|): median {convergence['median']:.1%}, max {convergence['max']:.1%} over "
                     f"{convergence['images']} images; {convergence['advice']}")
    if summary["selection"]["limit"]:
        lines.append(f"- `--limit {summary['selection']['limit']}`: {summary['selection']['sources']} sources")
    lines += ["", "## Object focus per scenario", "", MEANING, "", scenario_markdown(analysis), ""]
    if REFERENCE in analysis.configs and len(analysis.configs) > 1:
        lines += ["## Shift from `original`", "",
                  "Scenario minus `original`, over the same source images (paired bootstrap interval).", "",
                  shift_markdown(analysis), ""]
    lines += ["## Relevance mass per class and scenario", "", "Cells: mean (images).", "", class_markdown(analysis),
              ""]
    small = any(not cell.meaningful for cells in analysis.cells.values() for cell in cells.values() if cell.n)
    if small:
        lines += [FLAG_NOTE, ""]
    if analysis.undefined:
        lines += ["## Rows without measures", ""]
        lines += [f"- `{config}`: {count} × {reason}" for config, reasons in analysis.undefined.items()
                  for reason, count in reasons.items()]
        lines.append("")
    if result.problems:
        lines += ["## Rows skipped", ""]
        lines += [f"- `{p['config']}` `{p['source_id']}`: {p['reason']}" for p in result.problems]
        lines.append("")
    lines += ["## Definitions", ""]
    lines += [f"- **{TITLES[m]}**: {d} ({r})." for m, (d, r) in DEFINITIONS.items()]
    lines.append("")
    if gallery:
        lines += ["## Gallery", "", f"![attribution maps in original and the headline scenarios]({gallery})", ""]
    return "\n".join(lines)


def _csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def scenario_csv(analysis: ExplainAnalysis) -> str:
    """One row per scenario and measure."""
    header = ["config", "measure", "n", "mean", "ci_low", "ci_high", "chance", "chance_of", "shift", "shift_ci_low",
              "shift_ci_high", "meaningful"]
    rows = [[c, m, cell.n, cell.mean, cell.ci_low, cell.ci_high, cell.chance, CHANCE[m], cell.shift,
             cell.shift_ci_low, cell.shift_ci_high, cell.meaningful]
            for c in analysis.configs for m, cell in analysis.cells[c].items()]
    return _csv(header, rows)


def class_csv(analysis: ExplainAnalysis) -> str:
    """Relevance mass per class and scenario."""
    header = ["label", "class", "config", "n", "mean", "ci_low", "ci_high", "chance", "meaningful"]
    rows = [[label, analysis.class_names[label], c, cell.n, cell.mean, cell.ci_low, cell.ci_high, cell.chance,
             cell.meaningful]
            for label, cells in analysis.classes.items() for c, cell in cells.items()]
    return _csv(header, rows)


def read_rows(source: BuildSource, config: str, split: str, ids: Sequence[str]) -> dict[str, tuple[bytes, bytes]]:
    """source id -> (image bytes, mask bytes) of the given sources in one config's split."""
    found: dict[str, tuple[bytes, bytes]] = {}
    wanted = pa.array(sorted(ids))
    for path in source.files(config, split):
        with source.parquet(path) as parquet:
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group, columns=["source_id", "image", "mask"], use_threads=False)
                table = table.filter(pc.is_in(table.column("source_id"), wanted))
                images = table.column("image").combine_chunks().field("bytes").to_pylist()
                masks = table.column("mask").combine_chunks().field("bytes").to_pylist()
                for sid, image, mask in zip(table.column("source_id").to_pylist(), images, masks, strict=True):
                    found[sid] = (image, mask)
    return found


def gallery_rows(result: ExplanationResult, source: BuildSource, sources: Sequence[str],
                 configs: Sequence[str]) -> list:
    """The gallery's rows: per source, a titled list of tiles (configs it has a map of)."""
    from ... import imageio
    from .gallery import Tile

    split = result.summary["dataset"]["split"]
    measures = {(r["config"], r["source_id"]): r for r in
                result.table.select(["config", "source_id", "label", FOCUS, "pointing_game"]).to_pylist()}
    stored = {c: read_rows(source, c, split, sources) for c in configs}
    names = result.analysis.class_names
    rows = []
    for sid in sources:
        tiles = []
        label = None
        for config in configs:
            key = (config, sid)
            if key not in result.maps or sid not in stored[config]:
                continue
            image, mask = stored[config][sid]
            row = measures[key]
            label = row["label"]
            tiles.append(Tile(config, imageio.decode_any(image), decode_mask(mask), result.maps[key], row[FOCUS],
                              row["pointing_game"]))
        if tiles:
            rows.append((f"{names[label]} {sid}", tiles))
    return rows


def write_outputs(result: ExplanationResult, source: BuildSource, gallery_sources: Sequence[str],
                  gallery_configs: Sequence[str] | None) -> dict[str, Path]:
    """Every output file of a run in result.out."""
    from ..preprocessing import Preprocessing
    from .gallery import GALLERY_CONFIGS, write_gallery
    from .runner import NAMES

    out = result.out
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    summary = result.summary
    # first a stub, so that a run cut off while writing leaves outputs explain knows as its own
    write_summary({"tool": summary["tool"], "created": summary["created"],
                   "status": "writing; the outputs beside this file may be incomplete"}, out, NAMES["summary"])
    stored = {k: v for k, v in summary.items() if k != "results"}
    files["explanations"] = preds.write_table(out / NAMES["explanations"],
                                              preds.with_meta(result.table, {"summary": stored}))
    files["scenarios_csv"] = write_atomic(out / NAMES["scenarios_csv"], scenario_csv(result.analysis))
    files["classes_csv"] = write_atomic(out / NAMES["classes_csv"], class_csv(result.analysis))
    wanted = [c for c in (gallery_configs or GALLERY_CONFIGS) if c in result.analysis.configs]
    if gallery_sources and wanted:
        rows = gallery_rows(result, source, gallery_sources, wanted)
        if rows:
            pre = Preprocessing.from_dict(summary["preprocessing"])
            a = summary["attribution"]
            title = f"{METHOD_NAMES[a['method']]} of {summary['model'].get('spec', '?')}, target: {a['target']}"
            if a["method"] == "gradcam":
                title += f", layer {a['layer']['name']} ({a['layer']['point']})"
            files["gallery"] = write_gallery(rows, pre, out / NAMES["gallery"], title)
    summary["files"] = {k: v.name for k, v in files.items()} | {"summary": NAMES["summary"],
                                                                 "report": NAMES["report"]}
    gallery = NAMES["gallery"] if "gallery" in files else None
    files["report"] = write_atomic(out / NAMES["report"], report_markdown(result, gallery))
    files["summary"] = write_summary(summary, out, NAMES["summary"])
    return files

