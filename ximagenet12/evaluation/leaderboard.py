"""Several `evaluate` runs of one build compared: a table sorted by robustness score, as md, csv and json."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, XImageNet12Error
from ..provenance import write_atomic
from ..scenarios import order_configs
from .reports import FLAG, FLAG_NOTE, markdown_table
from .robustness import REFERENCE
from .stats import MEANINGFUL_N

SUMMARY = "summary.json"
EXPLAIN_SUMMARY = "explain_summary.json"  # written by `ximagenet12 explain`
NAMES = ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.png")
METHOD_NAMES = {"gradcam": "Grad-CAM", "ig": "integrated gradients", "occlusion": "occlusion"}


@dataclass
class Entry:
    """One run: its display name, folder, model spec and results."""

    name: str
    folder: Path
    spec: str
    summary: dict
    focus: dict[str, dict] = field(default_factory=dict)  # attribution method -> object focus on `original`
    notes: list[str] = field(default_factory=list)

    @property
    def results(self) -> dict:
        return self.summary.get("results") or {}

    @property
    def accuracy(self) -> dict[str, dict]:
        """config -> {n, top1, ci_low, ci_high, drop, drop_ci_low, drop_ci_high, ...}."""
        return self.results.get("accuracy") or {}

    @property
    def score(self) -> float | None:
        return (self.results.get("robustness") or {}).get("score")

    @property
    def score_ci(self) -> list:
        return (self.results.get("robustness") or {}).get("ci95") or []

    @property
    def bg_gap(self) -> dict | None:
        return self.results.get("bg_gap")

    @property
    def challenge(self) -> dict | None:
        return self.results.get("challenge")

    @property
    def build(self) -> tuple[str | None, str | None]:
        dataset = self.summary.get("dataset") or {}
        return dataset.get("manifest_sha256"), dataset.get("split")


def _name_of(spec: str, summary: dict) -> str:
    """A short display name: the factory, file or model id of the spec."""
    kind, _, target = spec.partition(":")
    if kind == "predictions":
        inner = (summary.get("model") or {}).get("run") or {}
        return _name_of(inner["spec"], {}) if inner.get("spec") else Path(target).name
    if kind in ("torch", "python"):
        return target.rpartition(":")[2]
    if kind == "onnx":
        return Path(target).name
    return target or spec


def read_run(folder: str | Path) -> Entry:
    """An `evaluate` output folder's summary, checked to be one."""
    folder = Path(folder)
    path = folder / SUMMARY
    if not folder.is_dir():
        raise XImageNet12Error(f"{folder} does not exist" if not folder.exists() else f"{folder} is not a folder")
    if not path.is_file():
        raise XImageNet12Error(f"{folder} has no {SUMMARY}; is it the --out folder of `ximagenet12 evaluate`?")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is not readable JSON ({error})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("results"), dict):
        raise DataError(f"{path} is not an evaluation summary (no 'results')")
    spec = str((summary.get("model") or {}).get("spec") or folder.name)
    entry = Entry(_name_of(spec, summary), folder, spec, summary)
    if None in entry.build:
        raise DataError(f"{path} names no build (manifest sha256 and split); score it with --data first")
    return entry


def read_explanation(folder: str | Path) -> dict:
    """An `explain` output folder's summary, checked to be one."""
    path = Path(folder) / EXPLAIN_SUMMARY
    if not path.is_file():
        raise XImageNet12Error(f"{folder} has no {EXPLAIN_SUMMARY}; is it the --out folder of `ximagenet12 explain`?")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is not readable JSON ({error})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("results"), dict) \
            or not isinstance(summary.get("attribution"), dict) or not summary["attribution"].get("method"):
        raise DataError(f"{path} is not an explanation summary (no 'results' or 'attribution')")
    return summary


def _same_model(a: dict, b: dict) -> bool:
    """Whether two summaries' model records name the same model: spec and, where both have it, weights."""
    keys = ("spec", "state_dict_sha256", "weights_sha256", "source_sha256")
    return all(a.get(k) == b.get(k) for k in keys if k == "spec" or (k in a and k in b))


def attach_explanation(entries: Sequence[Entry], folder: Path, summary: dict, *, required: bool) -> None:
    """Give the object focus of an explanation to the runs of the same model, build and split; note what fits none."""
    focus = summary["results"].get("object_focus")
    if not isinstance(focus, dict):
        entries[0].notes.append(f"explanations in {folder} did not explain `{REFERENCE}`: no object focus from them")
        return
    dataset = summary.get("dataset") or {}
    build = (dataset.get("manifest_sha256"), dataset.get("split"))
    method = summary["attribution"]["method"]
    matched = [e for e in entries if e.build == build and _same_model(e.summary.get("model") or {},
                                                                      summary.get("model") or {})]
    for entry in matched:
        entry.focus[method] = {**focus, "folder": str(folder),
                               "target": summary["attribution"].get("target"),
                               "limit": (summary.get("selection") or {}).get("limit")}
    if not matched:
        what = f"explanations in {folder} are of another model, build or split than"
        note = f"{what} any run given: left out"
        if required:
            entries[0].notes.append(note)
        else:
            for entry in entries:
                if entry.folder == folder:
                    entry.notes.append(f"{what} the run beside them: left out")


def collect(folders: Sequence[str | Path], names: Sequence[str] | None = None,
            explanations: Sequence[str | Path] = ()) -> list[Entry]:
    """Runs of one build and split, sorted by robustness score (then original top-1); mixed builds refused.

    A run folder holding an `explain` summary, and each folder of `explanations`, give the runs of the same
    model, build and split their object focus (relevance mass on `original`, per attribution method).
    """
    if not folders:
        raise XImageNet12Error("give at least one results folder")
    entries = [read_run(f) for f in folders]
    if names:
        if len(names) != len(entries):
            raise XImageNet12Error(f"--names gives {len(names)} names for {len(entries)} folders")
        for entry, name in zip(entries, names, strict=True):
            entry.name = name
    builds = {e.build[0] for e in entries}
    if len(builds) > 1:
        shown = ", ".join(f"{e.folder} ({e.build[0][:12]})" for e in entries)
        raise DataError(f"the runs score different builds (manifest sha256): {shown}")
    splits = {e.build[1] for e in entries}
    if len(splits) > 1:
        raise DataError(f"the runs score different splits: {', '.join(f'{e.folder} ({e.build[1]})' for e in entries)}")
    seen: dict[str, int] = {}
    for entry in entries:
        seen[entry.name] = seen.get(entry.name, 0) + 1
    for entry in entries:
        if seen[entry.name] > 1:
            entry.name = f"{entry.name} ({entry.folder.name})"

    for entry in entries:
        if (entry.folder / EXPLAIN_SUMMARY).is_file():
            try:
                attach_explanation(entries, entry.folder, read_explanation(entry.folder), required=False)
            except XImageNet12Error as error:
                entry.notes.append(f"{error}: left out")
    for folder in explanations:
        attach_explanation(entries, Path(folder), read_explanation(folder), required=True)

    def rank(e: Entry) -> tuple:
        original = (e.accuracy.get(REFERENCE) or {}).get("top1")
        return (e.score is None, -(e.score or 0.0), -(original or 0.0), e.name)

    return sorted(entries, key=rank)


def configs_of(entries: Sequence[Entry]) -> list[str]:
    """Every config any run scored, in benchmark order."""
    return order_configs({c for e in entries for c in e.accuracy})


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}%"


def _ci(values: Sequence | None, scale: float = 100, digits: int = 1) -> str:
    if not values or any(v is None for v in values):
        return ""
    return f" [{scale * values[0]:.{digits}f}, {scale * values[1]:.{digits}f}]"


def _accuracy_cell(record: dict | None) -> str:
    if not record:
        return "–"
    text = f"{_pct(record['top1'])}{_ci([record['ci_low'], record['ci_high']])} ({record['n']})"
    return f"{text} {FLAG}" if record["n"] < MEANINGFUL_N else text


def _drop_cell(record: dict | None) -> str:
    if not record or record.get("drop") is None:
        return "–"
    return f"{100 * record['drop']:+.1f} pp{_ci([record['drop_ci_low'], record['drop_ci_high']])}"


def _challenge_cell(challenge: dict | None) -> str:
    if not challenge or challenge.get("accuracy") is None:
        return "–"
    text = f"{_pct(challenge['accuracy'])}{_ci(challenge.get('ci95'))} ({challenge['foregrounds']})"
    return f"{text} {FLAG}" if challenge["foregrounds"] < MEANINGFUL_N else text


def _variant_cell(entry: Entry, variant: str) -> str:
    result = (entry.results.get("robustness_by_mask_variant") or {}).get(variant) or {}
    if result.get("score") is None:
        return "–"
    change = result.get("change")
    return f"{result['score']:.4f}" + ("" if change is None else f" ({change:+.4f})")


def focus_methods(entries: Sequence[Entry]) -> list[str]:
    """Attribution methods any run has an object focus for, in a fixed order."""
    found = {m for e in entries for m in e.focus}
    return [m for m in METHOD_NAMES if m in found] + sorted(found - set(METHOD_NAMES))


def _focus_cell(record: dict | None) -> str:
    """'0.62 [0.55, 0.70] / 0.31 (n)': relevance mass on `original` [CI] / chance level (images)."""
    if not record or record.get("mean") is None:
        return "–"
    text = f"{record['mean']:.2f}{_ci([record.get('ci_low'), record.get('ci_high')], 1, 2)}"
    if record.get("chance") is not None:
        text += f" / {record['chance']:.2f}"
    text += f" ({record['n']})"
    return f"{text} {FLAG}" if record["n"] < MEANINGFUL_N else text


def to_markdown(entries: Sequence[Entry], picture: str | None = None) -> str:
    """Summary table sorted by score, then top-1 and drop per scenario (scenarios down, models across)."""
    manifest, split = entries[0].build
    lines = [
        "# XImageNet-12 leaderboard",
        "",
        f"Build manifest sha256 `{manifest[:12]}…`, split `{split}`; {len(entries)} models, sorted by robustness "
        "score. Cells: value [95% CI] (images).",
        "",
    ]
    methods = focus_methods(entries)
    rows = []
    for rank, e in enumerate(entries, 1):
        gap = e.bg_gap
        rows.append([
            str(rank),
            f"{e.name}",
            "–" if e.score is None else f"{e.score:.4f}{_ci(e.score_ci, 1, 4)}",
            _accuracy_cell(e.accuracy.get(REFERENCE)),
            "–" if not gap else f"{100 * gap['value']:+.1f} pp{_ci(gap.get('ci95'))}",
            _challenge_cell(e.challenge),
            *(_focus_cell(e.focus.get(m)) for m in methods),
        ])
    header = ["rank", "model", "robustness score", "original top-1", "BG-gap", "challenge accuracy",
              *(f"object focus ({METHOD_NAMES.get(m, m)})" for m in methods)]
    lines += [markdown_table(header, rows, "rlrrrr" + "r" * len(methods)), ""]
    if picture:
        lines += [f"![robustness score against original top-1, and top-1 per scenario]({picture})", ""]
    configs = configs_of(entries)
    names = [e.name for e in entries]
    lines += ["## Top-1 per scenario", ""]
    lines += [markdown_table(["scenario", *names],
                             [[f"`{c}`", *(_accuracy_cell(e.accuracy.get(c)) for e in entries)] for c in configs],
                             "l" + "r" * len(entries)), ""]
    lines += ["## Drop from original", ""]
    others = [c for c in configs if c != REFERENCE]
    lines += [markdown_table(["scenario", *names],
                             [[f"`{c}`", *(_drop_cell(e.accuracy.get(c)) for e in entries)] for c in others],
                             "l" + "r" * len(entries)), ""]
    variants = sorted({v for e in entries for v in e.results.get("robustness_by_mask_variant") or {}})
    if variants:
        lines += ["## Robustness score with changed masks", "",
                  "The score again on the build's `--mask-variant` configs (no internal term); in brackets, the "
                  "change from the plain masks' external term.", ""]
        lines += [markdown_table(["masks", *names], [[f"`@{v}`", *(_variant_cell(e, v) for e in entries)]
                                                     for v in variants], "l" + "r" * len(entries)), ""]
    notes = [FLAG_NOTE] if FLAG in "\n".join(lines) else []
    if methods:
        notes.append("Object focus: relevance mass on the object in `original` (the share of the positive "
                     "attribution inside the hand-drawn mask, Arras et al. 2022) [95% CI] / its chance level (the "
                     "object's share of the pixels the model saw), from `ximagenet12 explain`.")
    notes += [n for e in entries for n in e.notes]
    methods = {(e.results.get("robustness") or {}).get("method") for e in entries if e.score is not None}
    if len(methods) > 1:
        notes.append(f"Scores were computed with different methods {sorted(methods)}: not comparable.")
    notes += [f"{e.name}: `{e.spec}` ({e.folder})." for e in entries]
    return "\n".join(lines + ["Notes:", ""] + [f"- {n}" for n in notes]) + "\n"


def to_records(entries: Sequence[Entry]) -> list[dict]:
    """One JSON-ready record per model, in rank order."""
    return [
        {
            "rank": rank,
            "model": e.name,
            "spec": e.spec,
            "folder": str(e.folder),
            "robustness": e.results.get("robustness"),
            "robustness_by_mask_variant": e.results.get("robustness_by_mask_variant") or {},
            "accuracy": e.accuracy,
            "bg_gap": e.bg_gap,
            "challenge": e.challenge,
            "object_focus": e.focus or None,
            "model_identity": e.summary.get("model"),
            "preprocessing": e.summary.get("preprocessing"),
            "runtime": {k: v for k, v in (e.summary.get("runtime") or {}).items() if k != "timing"},
        }
        for rank, e in enumerate(entries, 1)
    ]


def to_csv(entries: Sequence[Entry]) -> str:
    """One row per model: score, BG-gap, challenge, and each scenario's n, top-1, drop and intervals."""
    configs = configs_of(entries)
    fields = ("n", "top1", "ci_low", "ci_high", "drop", "drop_ci_low", "drop_ci_high")
    header = ["rank", "model", "spec", "robustness_score", "robustness_ci_low", "robustness_ci_high", "bg_gap",
              "bg_gap_ci_low", "bg_gap_ci_high", "challenge_accuracy", "challenge_ci_low", "challenge_ci_high",
              "challenge_foregrounds"]
    methods = focus_methods(entries)
    focus_fields = ("mean", "ci_low", "ci_high", "chance", "n")
    header += [f"object_focus_{m}_{f}" for m in methods for f in focus_fields]
    header += [f"{c}_{f}" for c in configs for f in fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for rank, e in enumerate(entries, 1):
        gap, chal = e.bg_gap or {}, e.challenge or {}
        row = [rank, e.name, e.spec, e.score, *(e.score_ci or ["", ""]), gap.get("value"),
               *(gap.get("ci95") or ["", ""]), chal.get("accuracy"), *(chal.get("ci95") or ["", ""]),
               chal.get("foregrounds")]
        row += [(e.focus.get(m) or {}).get(f) for m in methods for f in focus_fields]
        for c in configs:
            record = e.accuracy.get(c) or {}
            row += [record.get(f) for f in fields]
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def write_leaderboard(entries: Sequence[Entry], out: str | Path, *, picture: bool = True) -> dict[str, Path]:
    """leaderboard.md, .csv, .json and (with matplotlib) .png in `out`."""
    out = Path(out)
    files: dict[str, Path] = {}
    if picture:
        from .leaderboard_chart import write_chart

        files["png"] = write_chart(entries, out / NAMES[3])
    files["md"] = write_atomic(out / NAMES[0], to_markdown(entries, NAMES[3] if picture else None))
    files["csv"] = write_atomic(out / NAMES[1], to_csv(entries))
    files["json"] = write_atomic(out / NAMES[2], json.dumps(to_records(entries), indent=2, default=str) + "\n")
    return files
