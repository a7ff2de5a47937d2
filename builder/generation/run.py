"""`generate_backgrounds`: sources in, one inpainted background per (source, k) out, resumable, with records."""

from __future__ import annotations

import hashlib
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ximagenet12 import imageio
from ximagenet12.errors import XImageNet12Error
from ximagenet12.provenance import fingerprint, library_versions, sha256_file, write_atomic

from ..plan import DEFAULT_SEED
from ..sources import Rejected, discover, load_classes
from ..worker import SourceLoader
from . import compose
from .jobs import Job, batches, plan_jobs
from .model import DEFAULT_MODEL, Model, default_precision, generate, load_model, resolve_device
from .prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT, check_template, fill
from .records import RECORDS_NAME, append_record, load_own_records, write_records

FORMAT = 1  # bump when the way images are made changes without any setting changing
VERSIONED = (
    "ximagenet12", "diffusers", "transformers", "torch", "huggingface_hub", "safetensors", "accelerate",
    "numpy", "opencv-python-headless",
)

Log = Callable[[str], None]


@dataclass
class GenerationOptions:
    """Everything `generate-backgrounds` is told."""

    sources: Path
    out: Path
    model: str = DEFAULT_MODEL
    revision: str | None = None
    prompt: str = DEFAULT_PROMPT
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    steps: int = 30
    guidance: float = 7.5
    seed: int = DEFAULT_SEED
    device: str = "auto"
    precision: str | None = None
    per_source: int = 1
    batch_size: int = 1
    classes: Path | None = None
    progress: bool = True


@dataclass
class GenerationReport:
    """What a run made, found already made, and left out (with why)."""

    out: Path
    made: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    device: str = ""
    precision: str = ""
    model: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def check_options(opts: GenerationOptions) -> None:
    """Refuse, in one line, options and folders a run cannot use; nothing heavy is imported."""
    for name, value in (("--steps", opts.steps), ("--per-source", opts.per_source), ("--batch-size", opts.batch_size)):
        if value < 1:
            raise XImageNet12Error(f"{name} must be at least 1, got {value}")
    if opts.guidance < 0:
        raise XImageNet12Error(f"--guidance must be >= 0, got {opts.guidance}")
    check_template(opts.prompt, "--prompt")
    check_template(opts.negative_prompt, "--negative-prompt")
    root, out = Path(opts.sources).resolve(), Path(opts.out).resolve()
    if not root.is_dir():
        raise XImageNet12Error(f"{opts.sources}: sources folder not found")
    if opts.classes is not None and not Path(opts.classes).is_file():
        raise XImageNet12Error(f"--classes {opts.classes}: no such file")
    if out.exists() and not out.is_dir():
        raise XImageNet12Error(f"--out {opts.out}: exists and is not a folder")
    if out != root / "ai_backgrounds" and out.is_relative_to(root):
        raise XImageNet12Error(
            f"--out {opts.out}: inside SOURCES, where the build would read the images as sources; "
            "use SOURCES/ai_backgrounds or a folder outside SOURCES"
        )


def _hardware(model: Model) -> str:
    import torch

    if model.device == "cuda":
        return f"cuda {torch.cuda.get_device_name(0)}"
    if model.device == "mps":
        return "mps (Apple silicon)"
    return f"cpu {platform.machine()}, {torch.get_num_threads()} threads"


def settings_of(opts: GenerationOptions, model: Model) -> dict[str, Any]:
    """Every setting an image depends on besides its own inputs: what the settings fingerprint covers."""
    local = model.info["origin"] == "local"  # a local folder is known by its files' digest, not by where it lies
    return {
        "format": FORMAT,
        "model": {key: value for key, value in model.info.items() if not (local and key == "id")},
        "scheduler": model.scheduler,
        "steps": opts.steps,
        "guidance": opts.guidance,
        "strength": model.strength,
        "precision": model.precision,
        "device": model.device,
        "prompt_template": opts.prompt,
        "negative_prompt_template": opts.negative_prompt,
        "run_seed": opts.seed,
        "native": model.native,
        "multiple": model.multiple,
        "mask_dilation_px": model.dilation,
        "fill": compose.GREY,
    }


class _Folder:
    """The output folder as the run sees it: every record so far, and the sha256 of each file they name."""

    def __init__(self, out: Path, report: GenerationReport):
        self.out = out
        self.path = out / RECORDS_NAME
        out.mkdir(parents=True, exist_ok=True)
        self.history, notes = load_own_records(self.path)
        if notes:  # drop the cut-off line now, so that appends start on a fresh line
            report.notes.extend(notes)
            write_records(self.path, self.history)
        self.latest: dict[str, dict] = {}
        self.written: dict[str, set[str]] = {}  # file -> every sha256 a record says we wrote there
        for record in self.history:
            self._remember(record)
        self.on_disk = {name: sha256_file(out / name) for name in self.latest if (out / name).is_file()}

    def _remember(self, record: dict[str, Any]) -> None:
        self.latest[record["file"]] = record
        self.written.setdefault(record["file"], set()).add(record["sha256"])

    def owns(self, name: str) -> bool:
        """Whether a file of that name is absent, or holds bytes one of our records says we wrote."""
        if not (self.out / name).exists():
            return True
        return self.on_disk.get(name) in self.written.get(name, ())

    def done(self, job: Job, settings: str) -> bool:
        """Whether the job's image is on disk, ours, made with these settings from these inputs."""
        record = self.latest.get(job.file)
        return (
            record is not None
            and self.on_disk.get(job.file) == record["sha256"]
            and record["settings_fingerprint"] == settings
            and record["source_sha256"] == job.source_sha256
            and record["mask_sha256"] == job.mask_sha256
            and record["seed"] == job.seed
        )

    def add(self, record: dict[str, Any], data: bytes) -> None:
        """Record first, then the image: a run killed between them leaves a record without its image."""
        append_record(self.path, record)
        self.history.append(record)
        self._remember(record)
        write_atomic(self.out / record["file"], data)
        self.on_disk[record["file"]] = record["sha256"]

    def compact(self) -> None:
        """One record per image still on disk, sorted by file name: the latest whose sha256 the file has, else
        the latest (an image changed by hand keeps its record, which then tells the build it was changed)."""
        if not self.path.exists():
            return
        matching = {r["file"]: r for r in self.history if self.on_disk.get(r["file"]) == r["sha256"]}
        keep = {name: matching.get(name, record) for name, record in self.latest.items() if name in self.on_disk}
        write_records(self.path, [keep[name] for name in sorted(keep)])


def _record(job: Job, opts: GenerationOptions, model: Model, common: dict[str, Any], working: tuple[int, int],
            sha: str, seconds: float) -> dict[str, Any]:
    return {
        "file": job.file,
        "sha256": sha,
        "source_id": job.source.id,
        "wnid": job.info.wnid,
        "class_name": job.info.name,
        "k": job.k,
        "seed": job.seed,
        "run_seed": opts.seed,
        "prompt_template": opts.prompt,
        "prompt": fill(opts.prompt, job.info),
        "negative_prompt": fill(opts.negative_prompt, job.info),
        "model": model.info,
        "scheduler": model.scheduler,
        "steps": opts.steps,
        "guidance": opts.guidance,
        "strength": model.strength,
        "precision": model.precision,
        "device": model.device,
        "batch_size": opts.batch_size,
        "mask_dilation_px": model.dilation,
        "sizes": {"source": list(job.size), "generated": list(working), "output": list(job.size)},
        "source_sha256": job.source_sha256,
        "mask_sha256": job.mask_sha256,
        "seconds": round(seconds, 3),
        **common,
    }


def _run_batch(batch: list[Job], todo: set[str], opts: GenerationOptions, model: Model, folder: _Folder,
               loader: SourceLoader, working: tuple[int, int], common: dict[str, Any],
               report: GenerationReport) -> None:
    start = time.perf_counter()
    sources = [loader.source(job.source) for job in batch]
    repaint = [compose.repaint_mask(src.mask, working, model.dilation) for src in sources]
    outputs, flagged = generate(
        model,
        prompts=[fill(opts.prompt, job.info) for job in batch],
        negative_prompts=[fill(opts.negative_prompt, job.info) for job in batch],
        images=[compose.model_input(src.rgb, mask) for src, mask in zip(sources, repaint, strict=True)],
        repaint=repaint,
        steps=opts.steps,
        guidance=opts.guidance,
        seeds=[job.seed for job in batch],
    )
    seconds = (time.perf_counter() - start) / len(batch)
    for job, src, output, unsafe in zip(batch, sources, outputs, flagged, strict=True):
        if job.file not in todo:
            continue
        if unsafe:
            report.rejected.append(Rejected(
                job.source.image, f"{job.file}: the model's safety checker blanked the image; not written", "generate"
            ))
            continue
        if not np.isfinite(output).all():
            advice = "; try --precision fp32 or bf16" if model.precision == "fp16" else ""
            report.rejected.append(Rejected(
                job.source.image,
                f"{job.file}: the model returned NaN or infinite pixels in {model.precision}; not written{advice}",
                "generate",
            ))
            continue
        image = compose.finish(compose.to_uint8(output), src.rgb, src.mask)
        data = imageio.encode_png(image)
        sha = hashlib.sha256(data).hexdigest()
        folder.add(_record(job, opts, model, common, working, sha, seconds), data)
        report.made.append(job.file)


def _source_rejects(rejected: list[Rejected], elsewhere: tuple[Path, ...]) -> list[Rejected]:
    """Discovery's rejects of sources and masks, without those of photos and images, which are not inputs here."""
    folders = [folder.resolve() for folder in elsewhere]
    return [r for r in rejected if not any(Path(r.file).resolve().is_relative_to(f) for f in folders)]


def _check_steps(steps: int, model: Model) -> None:
    """Refuse a --steps that the pipeline's strength rounds down to no denoising step (diffusers would raise)."""
    if model.strength <= 0 or int(steps * model.strength) >= 1:
        return
    fewest = max(steps + 1, math.floor(1 / model.strength))
    while int(fewest * model.strength) < 1:
        fewest += 1
    raise XImageNet12Error(
        f"--steps {steps}: {model.info.get('id', 'the model')} denoises for int(steps x strength {model.strength:g}) "
        f"= 0 steps; use --steps {fewest} or more"
    )


def generate_backgrounds(opts: GenerationOptions, log: Log = print) -> GenerationReport:
    """Make every missing image; skip those already made with the same settings; never touch a file not ours."""
    started = time.perf_counter()
    check_options(opts)
    out = Path(opts.out)
    report = GenerationReport(out)
    try:
        classes = load_classes(Path(opts.classes)) if opts.classes else None
    except ValueError as exc:
        raise XImageNet12Error(str(exc)) from None
    inventory = discover(Path(opts.sources), classes=classes, ai_backgrounds=out)
    report.rejected.extend(_source_rejects(inventory.rejected, (out, Path(opts.sources) / "backgrounds")))
    loader = SourceLoader()
    jobs, rejected = plan_jobs(inventory, opts.per_source, opts.seed, loader)
    report.rejected.extend(rejected)
    folder = _Folder(out, report)
    for job in jobs:
        if not folder.owns(job.file):
            report.rejected.append(Rejected(
                str(out / job.file), "exists and was not written by generate-backgrounds (no matching record in "
                f"{RECORDS_NAME}); move it away to generate this image", "generate",
            ))
    mine = [job for job in jobs if folder.owns(job.file)]
    if not mine:
        return report
    device = resolve_device(opts.device)
    precision = opts.precision or default_precision(device)
    model = load_model(opts.model, revision=opts.revision, device=device, precision=precision)
    _check_steps(opts.steps, model)
    report.device, report.precision, report.model = device, precision, model.info
    settings = fingerprint(settings_of(opts, model))
    todo = {job.file for job in mine if not folder.done(job, settings)}
    report.already = sorted(job.file for job in mine if job.file not in todo)
    if todo and device == "cpu":
        log(
            f"warning: no GPU in use: {len(todo)} image{'s' if len(todo) != 1 else ''} on the CPU; a full-size model "
            "such as SDXL takes minutes per image there (the bar's ETA gives this run's figure after the first batch)"
        )
    size_of = {size: compose.working_size(*size, model.native, model.multiple) for size in {j.size for j in jobs}}
    common = {
        "settings_fingerprint": settings,
        "versions": library_versions(VERSIONED, python=True),
        "hardware": _hardware(model),
    }
    plan = [batch for batch in batches(jobs, size_of, opts.batch_size) if any(j.file in todo for j in batch)]
    try:
        with tqdm(total=len(todo), unit="img", desc="generate", disable=not opts.progress or not todo,
                  dynamic_ncols=True) as bar:
            for batch in plan:
                before = len(report.made) + len(report.rejected)
                _run_batch(batch, todo, opts, model, folder, loader, size_of[batch[0].size], common, report)
                bar.update(len(report.made) + len(report.rejected) - before)
    finally:
        folder.compact()
        report.seconds = time.perf_counter() - started
    return report

