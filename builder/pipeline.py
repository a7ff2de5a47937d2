"""Running a build: lock the output, plan, hand shards to an engine, record each as it ends, finalise."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ximagenet12 import manifest as mf
from ximagenet12.classes import ClassInfo
from ximagenet12.features import SPLIT_RULE
from ximagenet12.imageio import JPEG_QUALITY
from ximagenet12.provenance import canonical_json, fingerprint, library_versions, write_atomic
from ximagenet12.scenarios import SCENARIOS

from .engines import Engine
from .engines.local import LocalEngine
from .plan import DEFAULT_SEED, SOURCES_PER_SHARD, Plan, make_plan
from .shards import PARTIAL_SUFFIX
from .sources import Inventory, Rejected, discover, load_classes
from .worker import Progress, ShardJob, ShardResult


class BuildLocked(RuntimeError):
    """Another build is writing to the same output folder."""


@dataclass
class BuildOptions:
    """Everything `ximagenet12 build` takes."""

    sources: Path
    out: Path
    configs: tuple[str, ...] | None = None
    workers: int = 1
    seed: int = DEFAULT_SEED
    backgrounds: Path | None = None
    ai_backgrounds: Path | None = None
    classes: Path | None = None
    sources_per_shard: int = SOURCES_PER_SHARD
    progress: bool = True
    engine: Engine | None = None  # None: the local process pool with `workers` processes


@dataclass
class BuildReport:
    """What a build run did."""

    out: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    built: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def faults(self) -> list[Rejected]:
        """Inputs or rows left out because something was wrong with them."""
        return [r for r in self.rejected if r.stage != "plan"]

    @property
    def unpaired(self) -> list[Rejected]:
        """Rows not planned because the scenario had no partner or photo for the source."""
        return [r for r in self.rejected if r.stage == "plan"]

    @property
    def num_rows(self) -> int:
        return sum(n for splits in self.counts.values() for n in splits.values())


@contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder, or refuse at once."""
    state = out / mf.STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLocked(
                f"{out}: another build is writing to this folder; wait for it or pick another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_configs(inv: Inventory) -> tuple[str, ...]:
    """Every scenario, less `ai_bg` when there are no generated images."""
    return tuple(name for name in SCENARIOS if name != "ai_bg" or inv.generated)


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _stat(path: str | None) -> list | None:
    if path is None:
        return None
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def shard_fingerprint(plan: Plan, index: int, class_names: list[str], root: Path) -> str:
    """What a shard's bytes depend on: its rows, their inputs' sizes and times, recipes, versions."""
    items = []
    for item in plan.shard(index):
        s = item.source
        rows = []
        for row in item.rows:
            other = row.partner.image if row.partner else row.background.path if row.background else None
            rows.append(
                [row.config, row.seed, row.background_id, _relative(other, root) if other else None, _stat(other)]
            )
        items.append(
            [
                s.id,
                _relative(s.image, root),
                _stat(s.image),
                _relative(s.mask, root),
                _stat(s.mask),
                item.label,
                item.split,
                item.fold,
                rows,
            ]
        )
    return fingerprint(
        {
            "items": items,
            "classes": class_names,
            "recipes": {c: mf.config_entry(c).to_dict() for c in plan.configs},
            "versions": build_versions(),
            "num_shards": plan.num_shards,
        }
    )


def _record_path(out: Path, index: int) -> Path:
    return out / mf.STATE_DIR / "shards" / f"{index:05d}.json"


def _read_record(out: Path, index: int) -> dict | None:
    path = _record_path(out, index)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _record_is_current(out: Path, index: int, fingerprint: str) -> bool:
    record = _read_record(out, index)
    if record is None or record.get("fingerprint") != fingerprint:
        return False
    return all((out / f["path"]).is_file() and (out / f["path"]).stat().st_size == f["size"] for f in record["files"])


def _write_record(out: Path, result: ShardResult) -> None:
    write_atomic(
        _record_path(out, result.index),
        canonical_json(
            {
                "index": result.index,
                "fingerprint": result.fingerprint,
                "files": [f.to_dict() for f in result.files],
                "rejected": [r.to_dict() for r in result.rejected],
            }
        ),
    )


def _remove_partials(out: Path) -> None:
    for path in (out / "data").rglob(f"*{PARTIAL_SUFFIX}") if (out / "data").exists() else []:
        path.unlink()


def _bar_progress(bar: tqdm) -> Progress:
    """Feed the bar with row counts, per config, as an engine reports them."""
    counts: dict[str, int] = {}

    def update(done: dict[str, int]) -> None:
        for key, n in done.items():
            counts[key] = counts.get(key, 0) + n
        bar.update(sum(done.values()))
        bar.set_postfix(counts, refresh=False)

    return update


def run_build(opts: BuildOptions) -> BuildReport:
    """Build (or resume) every shard of the plan on the engine; finalise when every shard is done."""
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    with build_lock(out):
        classes = load_classes(opts.classes or Path(opts.sources) / "classes.json")
        inv = discover(
            Path(opts.sources), classes=classes, backgrounds=opts.backgrounds, ai_backgrounds=opts.ai_backgrounds
        )
        configs = opts.configs or default_configs(inv)
        unknown = [c for c in configs if c not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown config(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
        plan = make_plan(inv, tuple(configs), seed=opts.seed, sources_per_shard=opts.sources_per_shard)
        root = Path(opts.sources)
        class_names = [c.name for c in inv.classes]
        fingerprints = [shard_fingerprint(plan, i, class_names, root) for i in range(plan.num_shards)]
        _write_plan_state(out, inv, plan, fingerprints, root)
        _remove_partials(out)

        report = BuildReport(out)
        jobs = []
        for i in range(plan.num_shards):
            if _record_is_current(out, i, fingerprints[i]):
                report.skipped.append(i)
            else:
                jobs.append(ShardJob(i, plan.num_shards, plan.shard(i), class_names, str(out), fingerprints[i]))
        total = sum(len(item.rows) for job in jobs for item in job.items)
        with tqdm(
            total=total, unit="row", desc="build", disable=not opts.progress or not jobs, dynamic_ncols=True
        ) as bar:
            engine = opts.engine or LocalEngine(opts.workers)
            results = engine.run(jobs, _bar_progress(bar), lambda result: _write_record(out, result))
        report.built = sorted(r.index for r in results)
        return finalize(out, report)


def _write_plan_state(out: Path, inv: Inventory, plan: Plan, fingerprints: list[str], root: Path) -> None:
    rejected = sorted(inv.rejected + plan.rejected, key=lambda r: (r.file, r.reason))
    state = {
        "sources_root": root.resolve().as_posix(),
        "source_count": len(inv.sources),
        "configs": list(plan.configs),
        "seed": plan.seed,
        "sources_per_shard": plan.sources_per_shard,
        "num_shards": plan.num_shards,
        "classes": [c.to_dict() for c in inv.classes],
        "fingerprints": fingerprints,
        "rejected": [asdict(r) for r in rejected],
        "backgrounds": len(inv.backgrounds),
        "generated": len(inv.generated),
    }
    write_atomic(out / mf.STATE_DIR / "plan.json", canonical_json(state))


def finalize(out: Path, report: BuildReport | None = None) -> BuildReport:
    """When every shard is recorded: write rejected.jsonl, the manifest and the card; drop stale files."""
    out = Path(out)
    report = report or BuildReport(out)
    state_path = out / mf.STATE_DIR / "plan.json"
    if not state_path.exists():
        raise FileNotFoundError(f"{out}: no build state ({state_path}); run `ximagenet12 build` first")
    state = json.loads(state_path.read_text())
    root = Path(state["sources_root"])
    records = []
    for i, fp in enumerate(state["fingerprints"]):
        record = _read_record(out, i)
        if record is None or record["fingerprint"] != fp:
            report.missing.append(i)
        else:
            records.append(record)
    rejected = [Rejected(**r) for r in state["rejected"]] + [Rejected(**r) for rec in records for r in rec["rejected"]]
    prefix = f"{root.as_posix()}/"
    rejected = sorted(
        (Rejected(_relative(r.file, root), r.reason.replace(prefix, ""), r.stage) for r in rejected),
        key=lambda r: (r.file, r.reason),
    )
    report.rejected = rejected
    files = sorted((mf.FileEntry(**f) for rec in records for f in rec["files"]), key=lambda f: f.path)
    for f in files:
        report.counts.setdefault(f.config, {}).setdefault(f.split, 0)
        report.counts[f.config][f.split] += f.num_rows
    if report.missing:
        return report

    _remove_stale(out, {f.path for f in files})
    write_atomic(out / mf.REJECTED_NAME, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in rejected))
    manifest = _manifest(state, files, rejected)
    write_atomic(out / mf.MANIFEST_NAME, canonical_json(manifest.to_dict()))
    from .card import write_card

    write_card(out, manifest)
    return report


BUILD_LIBRARIES = ("ximagenet12", "opencv-python-headless", "pillow", "numpy", "pyarrow", "datasets")


def build_versions() -> dict[str, str]:
    """Versions of everything whose output bytes the build depends on."""
    return library_versions(BUILD_LIBRARIES)


def _manifest(state: dict, files: list[mf.FileEntry], rejected: list[Rejected]) -> mf.Manifest:
    configs = {}
    for name in state["configs"]:
        splits = {}
        for split in ("train", "test"):
            parts = [f for f in files if f.config == name and f.split == split]
            if parts:
                splits[split] = mf.SplitCounts(
                    num_examples=sum(f.num_rows for f in parts),
                    num_bytes=sum(f.num_bytes for f in parts),
                    download_size=sum(f.size for f in parts),
                )
        configs[name] = mf.config_entry(name, splits)
    return mf.Manifest(
        seed=state["seed"],
        sources_per_shard=state["sources_per_shard"],
        num_shards=state["num_shards"],
        encoding={"jpeg_quality": JPEG_QUALITY, "png": "OpenCV, lossless", "original": "source bytes"},
        split_rule=SPLIT_RULE,
        classes=tuple(ClassInfo(**c) for c in state["classes"]),
        sources=mf.SourceCounts(
            annotated=state["source_count"],
            background_photos=state["backgrounds"],
            generated_images=state["generated"],
            rejected_files=len({r.file for r in rejected}),
        ),
        configs=configs,
        files=tuple(mf.FileEntry(**f.to_dict()) for f in files),
        versions=build_versions(),
    )


def _remove_stale(out: Path, keep: set[str]) -> None:
    data = out / "data"
    if not data.exists():
        return
    for path in sorted(data.rglob("*"), reverse=True):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
