"""explain(): where a classifier looks on every scenario of a build, measured against the hand-drawn masks.

One pass of spec -> classifier as `evaluate` makes it, the same batches and preprocessing; per image an
attribution map (`methods`), carried back to the stored pixels (`geometry`), scored against the row's
mask (`metrics`). Resumable per config; the reports follow `evaluate`'s conventions.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ...errors import DataError, XImageNet12Error
from ...provenance import fingerprint, library_versions
from .. import predictions as preds
from ..challenge import decode_mask
from ..loader import ahead, row_chunks, usable_cores
from ..mapping import LabelMapping, resolve_mapping
from ..models import PREDICTIONS, LoadOptions, ModelError, ModelSpec, load_classifier, parse_spec
from ..models.base import require
from ..models.torch import TorchClassifier
from ..preprocessing import Preprocessing, decode_for_model, resize_crop
from ..robustness import REFERENCE
from ..runner import EVAL_LIBRARIES, _now, _tool_version, resolve_preprocessing
from ..source import BuildSource, open_build, select_configs
from .geometry import to_stored
from .methods import TARGETS, Attributor, MethodSettings
from .metrics import DEFAULT_TOLERANCE, DEFINITIONS, METRICS, object_focus, undefined
from .tables import ExplainAnalysis, summarise

SCHEMA_VERSION = 1
AUTO_BATCH = {"cpu": 16, "accelerator": 64}
LIBRARIES = (*EVAL_LIBRARIES, "captum")
GALLERY_KEEP = 8  # maps kept (in the per-config cache) for the first sources of the order, for the gallery
COMMAND = "explain"
NAMES = {
    "explanations": "explanations.parquet",
    "summary": "explain_summary.json",
    "report": "explain_report.md",
    "scenarios_csv": "explain_scenarios.csv",
    "classes_csv": "explain_classes.csv",
    "gallery": "explain_gallery.png",
}
MEASURES = (*METRICS, "object_share", "box_share", "pointing_share", "mask_seen")
SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("config", pa.string()),
        ("label", pa.int16()),
        ("prediction", pa.int16()),
        ("correct", pa.bool_()),
        ("p_true", pa.float32()),
        ("method", pa.string()),
        ("target", pa.int16()),
        ("target_output", pa.int32()),
        *[(name, pa.float64()) for name in MEASURES],
        ("positive_relevance", pa.float64()),
        ("relevance_sum", pa.float64()),
        ("ig_delta", pa.float64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("note", pa.string()),
    ]
)
CACHE_SCHEMA = SCHEMA.append(pa.field("attribution", pa.binary()))


@dataclass
class ExplanationResult:
    """Per-image object focus, the tables, the summary, maps kept for the gallery, and the files written."""

    table: pa.Table
    analysis: ExplainAnalysis
    summary: dict
    out: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    maps: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)

    @property
    def object_focus(self) -> dict[str, float | None]:
        """config -> mean relevance mass on the object."""
        return {c: cells["relevance_mass"].mean for c, cells in self.analysis.cells.items()}


def source_order(source: BuildSource, config: str, split: str) -> list[tuple[str, int]]:
    """The split's (source id, label): one source of each class in turn, each class's sources by a hash of the id.

    The order depends on the ids only, so `--limit N` and the gallery take the same sources on every run.
    """
    by_label: dict[int, list[str]] = {}
    for path in source.files(config, split):
        with source.parquet(path) as parquet:
            table = parquet.read(columns=["source_id", "label"])
        for source_id, label in zip(table.column("source_id").to_pylist(), table.column("label").to_pylist(),
                                    strict=True):
            by_label.setdefault(int(label), []).append(source_id)
    queues = [sorted(ids, key=lambda i: (hashlib.sha256(i.encode()).hexdigest(), i))
              for _, ids in sorted(by_label.items())]
    order = []
    for rank in range(max((len(q) for q in queues), default=0)):
        order += [(q[rank], label) for label, q in zip(sorted(by_label), queues, strict=True) if rank < len(q)]
    return order


@dataclass
class _Decoded:
    """One batch: model-input crops, stored sizes, masks, labels, ids, and rows that could not be decoded."""

    crops: np.ndarray
    sizes: list[tuple[int, int]]
    masks: list[np.ndarray | None]
    labels: np.ndarray
    source_ids: list[str]
    problems: list[dict]


def _decode_row(image: bytes, mask: bytes, pre: Preprocessing) -> tuple[np.ndarray, tuple[int, int], Any]:
    """(crop, stored (width, height), mask or the reason it could not be read); an undecodable image raises."""
    picture = decode_for_model(image, pre.alpha_background)
    size = picture.size
    crop = resize_crop(picture, pre)
    try:
        decoded = decode_mask(mask)
    except Exception as error:  # an unreadable mask costs its row's measures, not the run
        decoded = f"mask not readable ({type(error).__name__})"
    return crop, size, decoded


class _Explainer:
    """State of one run: source, classifier, preprocessing, attribution method, mapping and selection."""

    def __init__(self, source: BuildSource, classifier: TorchClassifier, pre: Preprocessing, attributor: Attributor,
                 *, split: str, mapping: str, target: str, tolerance: float, batch_size: int,
                 selected: set[str] | None, keep: set[str], workers: int | None, progress: bool) -> None:
        self.source, self.classifier, self.pre, self.attributor = source, classifier, pre, attributor
        self.split, self.requested, self.target, self.tolerance = split, mapping, target, tolerance
        self.batch_size, self.selected, self.keep = batch_size, selected, keep
        self.workers, self.progress = workers, progress
        self.mapping: LabelMapping | None = None
        self.num_outputs: int | None = None
        self.model_identity = classifier.identity()

    def key(self, config: str) -> str:
        """What a config's cached rows depend on."""
        method = {k: v for k, v in self.attributor.to_dict().items() if k != "captum_version"}
        return fingerprint([SCHEMA_VERSION, self.model_identity, self.pre.to_dict(), self.requested, method,
                            self.target, self.tolerance, sorted(self.selected) if self.selected else "all",
                            sorted(self.keep), self.source.identity(config, self.split)])

    def restore(self, meta: dict) -> None:
        """Mapping and output count from a cached config."""
        if meta.get("mapping"):
            self.mapping = self.mapping or LabelMapping.from_dict(meta["mapping"])
        self.num_outputs = self.num_outputs or meta.get("num_outputs")

    def meta(self, key: str, timing: dict, problems: list[dict]) -> dict:
        return {"fingerprint": key, "mapping": self.mapping.to_dict() if self.mapping else None,
                "num_outputs": self.num_outputs, "timing": timing, "problems": problems}

    def _batches(self, config: str) -> Iterator[_Decoded]:
        columns = ["image", "mask", "label", "source_id"]

        def produce(pool: ThreadPoolExecutor) -> Iterator[_Decoded]:
            for table in row_chunks(self.source, config, self.split, self.batch_size, columns):
                if self.selected is not None:
                    table = table.filter(pc.is_in(table.column("source_id"), pa.array(sorted(self.selected))))
                if table.num_rows == 0:
                    continue
                yield self._decode(config, table, pool)

        return ahead(produce, workers=self.workers, name=f"explain-{config}")

    def _decode(self, config: str, table: pa.Table, pool: ThreadPoolExecutor) -> _Decoded:
        images = table.column("image").combine_chunks().field("bytes").to_pylist()
        masks = table.column("mask").combine_chunks().field("bytes").to_pylist()
        ids = table.column("source_id").to_pylist()
        labels = table.column("label").to_pylist()

        def one(i: int) -> Any:
            try:
                return _decode_row(images[i], masks[i] or b"", self.pre)
            except Exception as error:
                return error

        crops, sizes, kept_masks, kept_labels, kept_ids, problems = [], [], [], [], [], []
        for i, result in enumerate(pool.map(one, range(len(ids)))):
            if isinstance(result, Exception):
                problems.append({"config": config, "source_id": ids[i],
                                 "reason": f"image not decodable ({type(result).__name__}: {result})"})
                continue
            crop, size, mask = result
            crops.append(crop)
            sizes.append(size)
            kept_masks.append(mask)
            kept_labels.append(labels[i])
            kept_ids.append(ids[i])
        shape = (0, self.pre.crop, self.pre.crop, 3)
        return _Decoded(np.stack(crops) if crops else np.zeros(shape, np.uint8), sizes, kept_masks,
                        np.asarray(kept_labels, np.int64), kept_ids, problems)

    def targets(self, mapped: dict, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(build label attributed or -1, model output column attributed) per row."""
        mode = self.mapping.mode
        indices = np.asarray(self.mapping.imagenet_indices or (), np.int64)
        if self.target == "label":
            chosen = labels.astype(np.int64)
            columns = chosen if mode == "identity" else indices[chosen]
        else:
            chosen = mapped["prediction"].astype(np.int64)
            if mode == "identity":
                columns = chosen
            elif mode == "restrict":
                columns = indices[chosen]
            else:  # argmax: the model's own top-1, inside the build's classes or not
                columns = mapped["top5_raw"][:, 0].astype(np.int64)
        return chosen, columns

    def run(self, config: str, total: int) -> tuple[pa.Table, dict, list[dict]]:
        """Explain one config; its rows (with maps for the kept sources), timing and problems."""
        rows: list[dict] = []
        problems: list[dict] = []
        started, model_seconds = time.perf_counter(), 0.0
        bar = tqdm(total=total, desc=f"{config} ({self.attributor.settings.method})", unit="img",
                   disable=not self.progress, dynamic_ncols=True)
        with bar:
            for batch in self._batches(config):
                problems += batch.problems
                if not batch.source_ids:
                    continue
                tick = time.perf_counter()
                inputs = self.classifier.prepare(batch.crops, self.pre)
                logits = self.classifier.forward(inputs)
                if self.mapping is None:
                    self.num_outputs = int(logits.shape[1])
                    self.mapping = resolve_mapping(self.num_outputs, self.source.classes, self.requested)
                mapped = self.mapping.apply(logits, batch.labels)
                chosen, columns = self.targets(mapped, batch.labels)
                maps, deltas = self.attributor.attribute(inputs, columns.tolist())
                model_seconds += time.perf_counter() - tick
                for i in range(len(batch.source_ids)):
                    rows.append(self._row(config, batch, i, mapped, chosen, columns, maps, deltas))
                bar.update(len(batch.source_ids) + len(batch.problems))
        table = pa.Table.from_pylist(rows, schema=CACHE_SCHEMA) if rows else CACHE_SCHEMA.empty_table()
        seconds = time.perf_counter() - started
        timing = {"seconds": seconds, "model_seconds": model_seconds, "images": table.num_rows,
                  "images_per_second": table.num_rows / seconds if seconds else None}
        return table, timing, problems

    def _row(self, config: str, batch: _Decoded, i: int, mapped: dict, chosen: np.ndarray, columns: np.ndarray,
             maps: np.ndarray, deltas: np.ndarray | None) -> dict:
        width, height = batch.sizes[i]
        stored = to_stored(maps[i], width, height, self.pre)
        mask = batch.masks[i]
        if isinstance(mask, str):
            values = undefined(stored.relevance, stored.seen, mask).to_dict()
        else:
            values = object_focus(stored.relevance, mask, stored.seen, tolerance=self.tolerance).to_dict()
        source_id = batch.source_ids[i]
        return {
            "source_id": source_id,
            "config": config,
            "label": int(batch.labels[i]),
            "prediction": int(mapped["prediction"][i]),
            "correct": bool(mapped["correct"][i]),
            "p_true": float(mapped["p_true"][i]),
            "method": self.attributor.settings.method,
            "target": int(chosen[i]),
            "target_output": int(columns[i]),
            **{name: values[name] for name in MEASURES},
            "positive_relevance": values["positive_relevance"],
            "relevance_sum": values["relevance_sum"],
            "ig_delta": None if deltas is None else float(deltas[i]),
            "width": width,
            "height": height,
            "note": values["note"],
            "attribution": maps[i].astype(np.float32).tobytes() if source_id in self.keep else None,
        }


def convergence(table: pa.Table) -> dict:
    """How far integrated gradients' sums are from the logit differences they should equal (Captum's delta)."""
    deltas = np.asarray(table.column("ig_delta").to_pylist(), dtype=np.float64)
    sums = np.asarray(table.column("relevance_sum").to_pylist(), dtype=np.float64)
    difference = np.abs(sums - deltas)  # f(x) - f(baseline)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(deltas) / difference
    relative = relative[np.isfinite(relative)]
    return {
        "definition": "|sum of attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)| per image",
        "median": float(np.median(relative)) if relative.size else None,
        "max": float(relative.max()) if relative.size else None,
        "images": int(relative.size),
        "advice": "above a few percent, the path integral is coarse: raise --steps",
    }


def resolve_batch_size(batch_size: int | str | None, device: str) -> int:
    """A positive batch size; 'auto' is AUTO_BATCH for the device."""
    if batch_size in (None, "auto"):
        return AUTO_BATCH["cpu" if device == "cpu" else "accelerator"]
    size = int(batch_size)
    if size < 1:
        raise XImageNet12Error(f"--batch-size must be 'auto' or a positive integer, not {batch_size!r}")
    return size


def _written_by_explain(out: Path) -> bool:
    """Whether explain wrote this folder's outputs: its summary says so (a finished run, or the stub written
    before the outputs), or its explanations.parquet carries our record."""
    summary = out / NAMES["summary"]
    if summary.is_file():
        try:
            return (json.loads(summary.read_text()).get("tool") or {}).get("command") == COMMAND
        except (OSError, ValueError, AttributeError):
            return False
    table = out / NAMES["explanations"]
    if table.is_file():
        try:
            meta = preds.read_meta(pq.read_schema(table))
        except (OSError, ValueError, pa.ArrowInvalid):
            return False
        return ((meta.get("summary") or {}).get("tool") or {}).get("command") == COMMAND
    return False


def check_out(out: Path) -> None:
    """Refuse an --out whose explain outputs were not written by explain (never overwrite a user's file)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise XImageNet12Error(f"--out {out} is not a folder")
    if _written_by_explain(out):
        return
    for name in NAMES.values():
        if (out / name).exists():
            raise XImageNet12Error(f"{out / name} exists and was not written by `ximagenet12 explain` "
                                   f"(no {NAMES['summary']} of ours beside it); choose another --out")


def explain(
    model: Any,
    data: str | Path,
    *,
    configs: str | Sequence[str] | None = None,
    split: str = "test",
    method: str = "gradcam",
    target: str = "label",
    limit: int | None = None,
    out: str | Path | None = None,
    layer: str | None = None,
    steps: int = 50,
    baseline: str = "mean",
    window: int | None = None,
    stride: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    mapping: str = "restrict",
    batch_size: int | str = "auto",
    preprocessing: Preprocessing | Mapping | None = None,
    weights: str | None = None,
    model_kwargs: Mapping | None = None,
    device: str = "auto",
    revision: str | None = None,
    seed: int = 0,
    resamples: int = 1000,
    gallery: int = 4,
    gallery_configs: Sequence[str] | None = None,
    workers: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    resume: bool = True,
    verify: bool = True,
) -> ExplanationResult:
    """Attribution maps of `model` (a torch-based spec or torch.nn.Module) on a build's configs, and how much of
    each falls on the object: relevance mass, rank accuracy, pointing game, energy pointing game (`metrics`)."""
    if target not in TARGETS:
        raise ValueError(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, not {limit}")
    if not 0 <= gallery <= GALLERY_KEEP:
        raise ValueError(f"--gallery must be between 0 and {GALLERY_KEEP}, not {gallery}")
    if tolerance < 0:
        raise ValueError(f"--tolerance must be at least 0, not {tolerance}")
    settings = MethodSettings(method, steps, baseline, window, stride, layer)
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        check_out(out_dir)
    require("captum", "explain", "explain")
    spec = parse_spec(model) if isinstance(model, (str, ModelSpec)) else None
    if spec is not None and spec.kind == PREDICTIONS:
        raise ModelError(f"{spec}: a predictions file has no model to explain")
    source = open_build(data, revision=revision, verify=verify)
    chosen = select_configs(source, configs, split)
    absent = [c for c in gallery_configs or () if c not in chosen]
    if absent:
        raise ValueError(f"--gallery-configs {absent} are not among the configs explained ({', '.join(chosen)})")
    options = LoadOptions(weights=weights, model_kwargs=dict(model_kwargs or {}), device=device,
                          classes=source.manifest.classes, threads=threads)
    classifier = load_classifier(spec if spec is not None else model, options)
    if not isinstance(classifier, TorchClassifier):
        raise ModelError(f"{classifier.spec}: explain needs a torch-based model (torch:, timm:, hf:, clip: or a "
                         f"torch.nn.Module); a {classifier.kind} model gives no gradients to attribute")
    threads = threads or usable_cores()
    classifier.set_threads(threads)
    pre, pre_origin = resolve_preprocessing(preprocessing, classifier.preprocessing(),
                                            classifier.preprocessing_origin)
    size = resolve_batch_size(batch_size, classifier.device)
    reference = REFERENCE if REFERENCE in chosen else chosen[0]
    order = source_order(source, reference, split)
    selected = {sid for sid, _ in order[:limit]} if limit is not None else None
    picked = [item for item in order if selected is None or item[0] in selected]
    keep = {sid for sid, _ in picked[:GALLERY_KEEP]}
    attributor = Attributor(classifier, settings, pre, batch_size=size)
    run = _Explainer(source, classifier, pre, attributor, split=split, mapping=mapping, target=target,
                     tolerance=tolerance, batch_size=size, selected=selected, keep=keep, workers=workers,
                     progress=progress)

    tables, timings, cached, problems = [], {}, [], []
    for config in chosen:
        key = run.key(config)
        path = out_dir / "by_config" / split / "explain" / f"{config}.parquet" if out_dir else None
        hit = preds.load_cached(path, key) if (path and resume) else None
        if hit is not None:
            meta = preds.read_meta(hit)
            run.restore(meta)
            timings[config] = meta.get("timing")
            problems += meta.get("problems") or []
            cached.append(config)
            tables.append(hit.replace_schema_metadata(None))
            continue
        total = len(selected) if selected is not None else source.num_rows(config, split)
        table, timing, config_problems = run.run(config, total)
        timings[config] = timing
        problems += config_problems
        if path is not None:
            preds.write_table(path, preds.with_meta(table, run.meta(key, timing, config_problems)))
        tables.append(table)

    full = pa.concat_tables(tables) if tables else CACHE_SCHEMA.empty_table()
    maps = {}
    for source_id, config, blob in zip(full.column("source_id").to_pylist(), full.column("config").to_pylist(),
                                       full.column("attribution").to_pylist(), strict=True):
        if blob is not None:
            maps[(config, source_id)] = np.frombuffer(blob, np.float32).reshape(pre.crop, pre.crop)
    table = full.drop_columns(["attribution"])
    if table.num_rows == 0:
        raise DataError(f"nothing was explained: {len(problems)} rows of {source.location} could not be decoded")
    class_names = [c["name"] for c in source.classes]
    analysis = summarise(table, class_names, resamples=resamples, seed=seed)
    gallery_sources = [sid for sid, _ in picked[:gallery]]
    summary = {
        "tool": {"name": "ximagenet12", "version": _tool_version(), "command": COMMAND},
        "created": _now(),
        "model": {**run.model_identity, "num_outputs": run.num_outputs},
        "dataset": {**source.provenance(), "split": split, "configs": chosen,
                    "rows": {c: int(t.num_rows) for c, t in zip(chosen, tables, strict=True)},
                    "classes": source.classes},
        "preprocessing": {**pre.to_dict(), "origin": pre_origin},
        "mapping": {**(run.mapping.to_dict() if run.mapping else {"mode": None}), "requested": mapping},
        "attribution": {**attributor.to_dict(), "target": target,
                        "target_rule": "the true class's output" if target == "label"
                        else "the predicted class's output (the model's own top-1 with --mapping argmax)",
                        "back_to_stored_pixels": "each model-input pixel's attribution spread over the stored "
                        "pixels its footprint covers (resize, centre crop), in proportion to the overlap; "
                        "stored pixels outside the crop are unseen and left out"},
        "measures": {"tolerance_px": tolerance, "positive_part": "max(attribution, 0) per stored pixel",
                     "definitions": {m: {"definition": d, "reference": r} for m, (d, r) in DEFINITIONS.items()},
                     "chance": "object_share (mass, rank), pointing_share (pointing), box_share (energy)"},
        "selection": {"limit": limit, "sources": len(picked), "order": "classes in turn, each by sha256 of the id",
                      "gallery_sources": gallery_sources},
        "seed": seed,
        "libraries": library_versions(LIBRARIES, python=True),
        "runtime": {**classifier.runtime(), "requested_device": device, "threads": threads, "batch_size": size,
                    "requested_batch_size": batch_size, "timing": timings, "resumed_configs": cached},
        "problems": problems,
    }
    summary["results"] = analysis.to_dict()
    if settings.method == "ig":
        summary["results"]["convergence"] = convergence(table)
    result = ExplanationResult(table, analysis, summary, out_dir, maps=maps, problems=problems)
    if out_dir is not None:
        from .report import write_outputs

        result.files = write_outputs(result, source, gallery_sources, gallery_configs)
    return result
