"""Readable and reusable reports: markdown, CSV, the summary JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..provenance import write_atomic
from .analysis import Analysis
from .stats import MEANINGFUL_N

FLAG = "†"
FLAG_NOTE = f"{FLAG} fewer than {MEANINGFUL_N} images: not meaningful (its 95% interval spans tens of points)."


def _pct(value: float | None, digits: int = 1) -> str:
    """0.9524 -> '95.2%'; None/NaN -> '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def _interval(low: float | None, high: float | None) -> str:
    """[low, high] in percent points."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "–"
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def _signed(value: float | None) -> str:
    """Percent points with sign."""
    return "–" if value is None else f"{100 * value:+.1f} pp"


def markdown_table(header: list[str], rows: list[list[str]], align: str) -> str:
    """A GitHub markdown table; align holds one of 'l'/'r' per column."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def flagged(text: str, n: int) -> str:
    """`text`, marked when it rests on fewer than MEANINGFUL_N images."""
    return f"{text} {FLAG}" if n < MEANINGFUL_N else text


def accuracy_markdown(analysis: Analysis) -> str:
    """Top-1 per config with n, intervals and drop from original; small configs flagged."""
    rows = [
        [
            f"`{r.config}`",
            str(r.n),
            flagged(_pct(r.top1), r.n),
            _interval(r.ci_low, r.ci_high),
            _signed(r.drop) if r.config != "original" else "–",
            _interval(r.drop_ci_low, r.drop_ci_high) if r.config != "original" else "–",
            _pct(r.top5),
        ]
        for r in analysis.accuracy
    ]
    header = ["scenario", "n", "top-1", "95% CI", "drop from original", "95% CI", "top-5"]
    table = markdown_table(header, rows, "lrrrrrr")
    return f"{table}\n\n{FLAG_NOTE}" if analysis.small_configs else table


def robustness_markdown(analysis: Analysis) -> str:
    """Score, its inputs per scenario, and any caveat."""
    score = analysis.robustness
    if score is None:
        return analysis.robustness_note or "No robustness score."
    top1, n = analysis.top1, analysis.counts
    internal = score.internal
    rows = [
        [
            f"`{s}`",
            str(n[s]),
            flagged(_pct(top1[s], 2), n[s]),
            _pct(score.external.squared_deviations[s], 2),
            _pct(internal.squared_deviations[s], 2) if internal else "–",
        ]
        for s in score.scenarios
    ]
    header = ["scenario", "n", "top-1", "(C - mu)^2 external", "(C - mu)^2 internal"]
    table = markdown_table(header, rows, "lrrrr")
    low, high = analysis.robustness_ci or (float("nan"), float("nan"))
    term = "variance" if score.method == "table3" else "standard deviation"
    lines = [
        (
            f"**Robustness score ({score.method}): {score.score:.4f}** "
            f"(95% CI {low:.4f} to {high:.4f}, external run resampled)"
        ),
        "",
        f"mu = top-1 on `original` = {_pct(score.external.reference_accuracy, 2)} (n = {n['original']}); "
        f"external {term} {score.external.term:.4f}; "
        + (f"internal {term} {internal.term:.4f}." if internal else "no internal run (internal term 0)."),
        "",
        table,
    ]
    if analysis.robustness_note:
        lines += ["", f"Note: {analysis.robustness_note}."]
    if analysis.by_mask_variant:
        lines += ["", mask_variant_markdown(analysis)]
    return "\n".join(lines)


def mask_variant_markdown(analysis: Analysis) -> str:
    """The robustness score again with each mask variant's configs, and its change from the plain masks'."""
    rows = []
    for variant, result in analysis.by_mask_variant.items():
        if result.get("score") is None:
            rows.append([f"`@{variant}`", "–", "–", "–", result.get("note", "")])
            continue
        low, high = result["ci95"] or (float("nan"), float("nan"))
        change = result["change"]
        rows.append([f"`@{variant}`", f"{result['score']:.4f}", f"{low:.4f} to {high:.4f}",
                     "–" if change is None else f"{change:+.4f}", ", ".join(f"`{m}`" for m in result["missing"])])
    table = markdown_table(["masks", "robustness score", "95% CI", "change", "scenarios missing"], rows, "lrrrl")
    return (
        "With the masks changed as another annotation tool would draw them (the build's `--mask-variant` configs, "
        "`original` as it is, no internal term; change = the plain masks' external term minus the variant's):\n\n"
        + table
    )


def class_markdown(analysis: Analysis) -> str:
    """Top-1 (n) per class x config; cells from fewer than MEANINGFUL_N images flagged."""
    rows = []
    for i in analysis.present_classes:
        cells = [
            "–" if n == 0 else flagged(f"{_pct(v, 0)} ({n})", n)
            for v, n in zip(analysis.class_accuracy[i], analysis.class_counts[i], strict=True)
        ]
        rows.append([analysis.class_names[i], *cells])
    header = ["class"] + [f"`{c}`" for c in analysis.configs]
    table = markdown_table(header, rows, "l" + "r" * len(analysis.configs))
    small = bool(analysis.class_counts[analysis.present_classes].min(initial=MEANINGFUL_N) < MEANINGFUL_N)
    return "Cells: top-1 (images).\n\n" + table + (f"\n\n{FLAG_NOTE}" if small else "")


def bg_gap_line(analysis: Analysis) -> str:
    """The BG-gap with its interval and the images behind each side."""
    low, high = analysis.bg_gap_ci or (float("nan"), float("nan"))
    n = analysis.counts
    line = (
        f"top-1(`mixed_same`) - top-1(`mixed_rand`) = {_signed(analysis.bg_gap)} "
        f"(95% CI {_interval(low, high)}; n = {n['mixed_same']} and {n['mixed_rand']})"
    )
    return f"{line}. Note: {analysis.bg_gap_note}." if analysis.bg_gap_note else line


def report_markdown(analysis: Analysis, summary: dict, heatmap: str | None) -> str:
    """The whole human-readable report."""
    model = summary.get("model", {})
    data = summary.get("dataset", {})
    pre = summary.get("preprocessing") or {}
    mapping = summary.get("mapping") or {}
    lines = [
        f"# XImageNet-12 evaluation: `{model.get('spec', '?')}`",
        "",
        f"- data: `{data.get('location', '?')}`, split `{data.get('split', '?')}`"
        + (f", revision `{data['revision']}`" if data.get("revision") else "")
        + (f", manifest sha256 `{data['manifest_sha256'][:12]}…`" if data.get("manifest_sha256") else ""),
        f"- label mapping: `{mapping.get('mode', '?')}`: {mapping.get('description', '')}",
    ]
    runtime = summary.get("runtime") or {}
    if runtime.get("device"):
        lines.append(f"- ran on {runtime['device']}, {runtime.get('precision')}, batch {runtime.get('batch_size')}")
    if pre:
        resize = "shorter side" if pre.get("resize_mode", "shorter") == "shorter" else "squashed to"
        lines.append(
            f"- preprocessing ({pre.get('origin', '?')}): {resize} {pre['resize']}, centre crop {pre['crop']}, "
            f"{pre['interpolation']}, mean {[round(v, 4) for v in pre['mean']]}, "
            f"std {[round(v, 4) for v in pre['std']]}; alpha {pre['alpha']}"
        )
    lines += ["", "## Top-1 per scenario", "", accuracy_markdown(analysis), ""]
    lines += ["## Robustness score", "", robustness_markdown(analysis), ""]
    if analysis.bg_gap is not None:
        lines += ["## BG-gap", "", bg_gap_line(analysis), ""]
    lines += ["## Top-1 per class and scenario", "", class_markdown(analysis), ""]
    if heatmap:
        lines += [f"![class x scenario top-1]({heatmap})", ""]
    return "\n".join(lines)


def _csv_text(header: list[str], rows: list[list]) -> str:
    """CSV as a string."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csvs(analysis: Analysis, out: Path) -> dict[str, Path]:
    """accuracy.csv, class_by_scenario.csv and (with a score) robustness.csv."""
    files = {}
    header = list(analysis.accuracy[0].to_dict()) if analysis.accuracy else []
    rows = [list(r.to_dict().values()) for r in analysis.accuracy]
    files["accuracy_csv"] = write_atomic(out / "accuracy.csv", _csv_text(header, rows))
    class_rows = [
        [i, name] + ["" if math.isnan(v) else round(float(v), 6) for v in analysis.class_accuracy[i]]
        for i, name in enumerate(analysis.class_names)
    ]
    files["class_csv"] = write_atomic(
        out / "class_by_scenario.csv", _csv_text(["label", "class", *analysis.configs], class_rows)
    )
    score = analysis.robustness
    if score is not None:
        top1 = analysis.top1
        rows = [
            [
                s,
                top1[s],
                score.external.squared_deviations[s],
                score.internal.squared_deviations[s] if score.internal else "",
            ]
            for s in score.scenarios
        ]
        rows.append(["variance" if score.method == "table3" else "sigma", "", score.external.term,
                     score.internal.term if score.internal else ""])
        rows.append(["score", score.score, "", ""])
        files["robustness_csv"] = write_atomic(
            out / "robustness.csv",
            _csv_text(["scenario", "top1", "sq_dev_external", "sq_dev_internal"], rows),
        )
    return files


def write_summary(summary: dict, out: Path, name: str = "summary.json") -> Path:
    """summary.json (or `name`) in `out`, NaN written as null."""
    text = json.dumps(_clean(summary), indent=2, sort_keys=False)
    return write_atomic(out / name, text + "\n")


def _clean(value):
    """NaN -> None, tuples -> lists, paths -> str, recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
