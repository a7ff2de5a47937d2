"""Running a build: check the options and the output folder, plan, lock, hand shards to an engine, resume, finalise.

What a build promises (README "Reliability"): it refuses, before writing anything, an output folder
that is not empty and not an earlier build of ours, or that overlaps SOURCES; it removes only files
that an earlier manifest or shard record of ours listed; a bad input costs only its own rows; and
the manifest is written last, so a folder without one (or with one that disagrees with its files)
is never a finished build.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tqdm.auto import tqdm

from ximagenet12 import manifest as mf
from ximagenet12.classes import ClassInfo
from ximagenet12.errors import EXIT_FAULTS, XImageNet12Error
from ximagenet12.features import SPLIT_RULE
from ximagenet12.imageio import JPEG_QUALITY
from ximagenet12.masks.variants import parse_variant
from ximagenet12.provenance import canonical_json, compact_fingerprint, library_versions, write_atomic
from ximagenet12.scenarios import SCENARIOS, mask_variant_of, scenario_of

from . import heap
from .engines import DISK_FULL, Engine
from .engines.local import LocalEngine
from .plan import DEFAULT_MIXED_RAND_RULE, DEFAULT_SEED, MIXED_RAND_RULES, Plan, make_plan, shards_for
from .sample_grid import SourceFacts, choose_pictures
from .shards import SHARD_PARTIAL, parquet_format
from .sources import GENERATION_RECORDS, LAYOUTS, Inventory, Rejected, discover, load_classes
from .worker import Progress, ShardJob, ShardResult

WRITTEN_NAME = "written.json"


class BuildError(XImageNet12Error):
    """A build refused or stopped for a reason the user can act on; one line naming the folder or option."""


class BuildLocked(BuildError):
    """Another build is writing to the same output folder."""


class NoSources(BuildError):
    """SOURCES holds nothing a build can read; `layouts` lists what it accepts, one line each."""

    layouts = LAYOUTS


class DiskFull(BuildError):
    """The output folder's disk filled up (or a file size limit was hit)."""

    exit_code = EXIT_FAULTS


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
    sources_per_shard: int | None = None  # None: plan.default_sources_per_shard
    progress: bool = True
    mixed_rand_rule: str = DEFAULT_MIXED_RAND_RULE
    mask_variants: tuple[str, ...] = ()
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
    not_built: dict[str, str] = field(default_factory=dict)
    greyscale_sources: int = 0

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


def _positive(value: object, option: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BuildError(f"{option} must be a whole number of at least 1, got {value!r}")


def validate_options(opts: BuildOptions) -> tuple[str, ...] | None:
    """Check every option before anything is read or written; returns the configs asked for (deduplicated)."""
    if opts.sources_per_shard is not None:
        _positive(opts.sources_per_shard, "--sources-per-shard")
    _positive(opts.workers, "--workers")
    if opts.mixed_rand_rule not in MIXED_RAND_RULES:
        raise BuildError(f"--mixed-rand must be one of {', '.join(MIXED_RAND_RULES)}, got {opts.mixed_rand_rule!r}")
    suffixes = [parse_variant(spec).suffix for spec in opts.mask_variants]
    if len(set(suffixes)) != len(suffixes):
        raise BuildError(f"--mask-variant given twice: {', '.join(opts.mask_variants)}")
    if opts.configs is None:
        return None
    configs = tuple(dict.fromkeys(opts.configs))
    if not configs:
        raise BuildError("--configs names no config")
    unknown = [c for c in configs if c not in SCENARIOS]
    if unknown:
        raise BuildError(f"unknown config(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return configs


def _is_ours(out: Path) -> bool:
    return (out / mf.STATE_DIR).is_dir()


def check_output(sources: Path, out: Path) -> None:
    """Refuse, before anything is written, an output folder that could hold or overlap a user's files."""
    if not sources.is_dir():
        what = "is not a folder" if sources.exists() else "sources folder not found"
        raise BuildError(f"{sources}: {what}")
    src, dst = sources.resolve(), out.resolve()
    if dst == src:
        raise BuildError(f"{out}: --out is the sources folder; pick a new or empty folder outside it")
    if src in dst.parents:
        raise BuildError(f"{out}: --out lies inside the sources folder {sources}; pick a folder outside it")
    if dst in src.parents:
        raise BuildError(f"{out}: the sources folder {sources} lies inside --out; pick a folder that does not hold it")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise BuildError(f"{out}: --out exists and is not a folder")
        try:
            entries = [p.name for p in out.iterdir()]
        except OSError as exc:
            raise BuildError(f"{out}: cannot read --out ({exc.strerror or exc})") from None
        if entries and not _is_ours(out):
            raise BuildError(
                f"{out}: not empty and not an earlier build of ximagenet12 (no {mf.STATE_DIR}/ folder); "
                "pick a new or empty folder"
            )
        if not os.access(out, os.W_OK | os.X_OK):
            raise BuildError(f"{out}: cannot write to --out (permission denied)")
        return
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise BuildError(f"{out}: cannot create --out: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BuildError(f"{out}: cannot create --out: {parent} is not writable")


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
    """Every scenario; the plan says which the inputs cannot produce, and why."""
    return tuple(SCENARIOS)


def _relative(path: str, root: Path) -> str:
    """`path` relative to SOURCES (a symbolic link named, not its target), else as it is."""
    pairs = (lambda: (os.path.abspath(path), os.path.abspath(root)), lambda: (Path(path).resolve(), root.resolve()))
    for pair in pairs:  # resolving (a system call per path component) only when the plain paths do not tell
        whole, base = pair()
        try:
            return Path(whole).relative_to(base).as_posix()
        except ValueError:
            continue
    return path


def _stat(path: str | None) -> list | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


class _Inputs:
    """Each input file's path relative to SOURCES and its (size, mtime), looked up once per build."""

    def __init__(self, root: Path):
        self.root = root
        self._facts: dict[str, list] = {}

    def __call__(self, path: str) -> list:
        facts = self._facts.get(path)
        if facts is None:
            facts = self._facts[path] = [_relative(path, self.root), _stat(path)]
        return facts


def _shard_fingerprint(plan: Plan, index: int, class_names: list[str], inputs: _Inputs, versions: dict) -> str:
    """What a shard's bytes depend on: its rows, every input they may read (sizes, times), recipes, versions."""
    items = []
    for item in plan.shard(index):
        s = item.source
        rows = []
        for row in item.rows:
            records = [c.record for c in row.backgrounds if c.record is not None]
            # A partner's mask is read too: its tiled background depends on it.
            inputs_read = [inputs(c.image) + inputs(c.mask) for c in row.partners]
            inputs_read += [inputs(c.path) for c in row.backgrounds]
            rows.append([row.config, row.seed, inputs_read, list(row.params), records])
        items.append(
            [
                s.id,
                *inputs(s.image),
                *inputs(s.mask),
                item.label,
                item.split,
                item.fold,
                rows,
            ]
        )
    return compact_fingerprint(
        {
            "items": items,
            "classes": class_names,
            "recipes": {c: mf.config_entry(c).to_dict() for c in plan.configs},
            "versions": versions,
            "num_shards": plan.num_shards,
            "photo_checks": [inputs(photo.path) for photo in plan.photo_checks.get(index, ())],
        }
    )


def shard_fingerprints(plan: Plan, class_names: list[str], root: Path) -> list[str]:
    """Every shard's fingerprint, each input file looked up once."""
    inputs, versions = _Inputs(root), build_versions()
    return [_shard_fingerprint(plan, i, class_names, inputs, versions) for i in range(plan.num_shards)]


def _record_path(out: Path, index: int) -> Path:
    return out / mf.STATE_DIR / "shards" / f"{index:05d}.json"


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_record(out: Path, index: int) -> dict | None:
    return _read_json(_record_path(out, index))


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
                "greyscale": result.greyscale,
                "sources": result.sources,
            }
        ),
    )


def _listed_paths(data: dict | None) -> set[str]:
    """The shard paths a manifest or shard record lists (whatever else it holds)."""
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        return set()
    return {f["path"] for f in files if isinstance(f, dict) and isinstance(f.get("path"), str)}


def _written(out: Path) -> set[str]:
    """Every file an earlier build of ours listed in this folder: its manifest, its shard records, our own list."""
    state = out / mf.STATE_DIR
    paths = set(_read_json(state / WRITTEN_NAME).get("files", [])) if (state / WRITTEN_NAME).exists() else set()
    paths |= _listed_paths(_read_json(out / mf.MANIFEST_NAME))
    for record in sorted((state / "shards").glob("*.json")) if (state / "shards").is_dir() else []:
        paths |= _listed_paths(_read_json(record))
    return {p for p in paths if mf.is_shard_path(p)}


def _remember_written(out: Path, paths: set[str]) -> None:
    write_atomic(out / mf.STATE_DIR / WRITTEN_NAME, canonical_json({"files": sorted(paths)}))


def _remove_partials(out: Path) -> None:
    """Drop unfinished shard files of ours (`data/<config>/.<shard name>.<attempt>.partial`), nothing else."""
    data = out / mf.DATA_DIR
    for path in sorted(data.glob("*/.*")) if data.is_dir() else []:
        if SHARD_PARTIAL.match(path.name) and path.is_file():
            path.unlink()


def _bar_progress(bar: tqdm) -> Progress:
    """Feed the bar with the rows an engine reports done."""

    def update(done: dict[str, int]) -> None:
        bar.update(sum(done.values()))

    return update


def _nothing_to_build(sources: Path, inv: Inventory) -> NoSources:
    hint = f"; e.g. {_relative(inv.rejected[0].file, sources)}: {inv.rejected[0].reason}" if inv.rejected else ""
    return NoSources(
        f"{sources}: no annotated source found ({inv.files_seen} files looked at, {len(inv.rejected)} "
        f"rejected{hint}); nothing was written"
    )


# What an ai_bg row records of its image's generation record (the scheduler's class, not its whole config).
GENERATION_KEYS = ("model", "prompt", "negative_prompt", "seed", "steps", "guidance", "strength", "precision", "sha256")


def with_generation_records(inv: Inventory, folder: Path) -> Inventory:
    """The inventory with each generated image's record from `generation.jsonl` (bad records rejected)."""
    if not folder.is_dir():
        return inv
    from .generation.records import read_generation_records  # the generation package: only when there is one

    errors: list[str] = []
    records = read_generation_records(folder, errors=errors)
    path = folder / GENERATION_RECORDS
    rejected = [Rejected(str(path), "line " + error.removeprefix(f"{path}:").strip(), "discover") for error in errors]
    generated = []
    for image in inv.generated:
        record = records.get(Path(image.path).name)
        if record is not None:
            kept = {key: record[key] for key in GENERATION_KEYS}
            kept["scheduler"] = record["scheduler"].get("class")
            kept["versions"] = {k: v for k, v in record["versions"].items() if k in ("diffusers", "torch")}
            image = dataclasses.replace(image, record=canonical_json(kept))
        generated.append(image)
    return dataclasses.replace(inv, generated=generated, rejected=inv.rejected + rejected)


def generation_models(inv: Inventory) -> list[str]:
    """The distinct models (id@revision) the build's generated images were made with."""
    models = set()
    for image in inv.generated:
        if image.record is not None:
            model = json.loads(image.record)["model"]
            models.add(f"{model.get('id') or model.get('origin', '?')}@{model.get('revision', '?')}")
    return sorted(models)


def run_build(opts: BuildOptions) -> BuildReport:
    """Build (or resume) every shard of the plan on the engine; finalise when every shard is done.

    Options, the output folder and the inputs are checked before anything is written: a refused
    build, or one with nothing to build, leaves no trace.
    """
    configs = validate_options(opts)
    sources, out = Path(opts.sources), Path(opts.out)
    check_output(sources, out)
    classes = load_classes(opts.classes or sources / "classes.json")
    inv = discover(sources, classes=classes, backgrounds=opts.backgrounds, ai_backgrounds=opts.ai_backgrounds)
    inv = with_generation_records(inv, Path(opts.ai_backgrounds or sources / "ai_backgrounds"))
    if not inv.sources:
        raise _nothing_to_build(sources, inv)
    engine = opts.engine or LocalEngine(opts.workers)
    if isinstance(engine, LocalEngine):  # its processes start up while the driver plans and fingerprints
        engine.start(shards_for(len(inv.sources), opts.sources_per_shard))
    try:
        plan = make_plan(
            inv,
            configs or default_configs(inv),
            seed=opts.seed,
            sources_per_shard=opts.sources_per_shard,
            mixed_rand_rule=opts.mixed_rand_rule,
            mask_variants=tuple(parse_variant(spec) for spec in opts.mask_variants),
        )
        if not plan.planned_configs():
            reasons = "; ".join(f"{c}: {why}" for c, why in plan.not_built.items())
            raise BuildError(f"{sources}: nothing to build ({reasons}); nothing was written")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BuildError(f"{out}: cannot create --out ({exc.strerror or exc})") from None
        try:
            with build_lock(out):
                return _build_locked(opts, out, inv, plan, engine)
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise _disk_full(out, exc) from None
            where = exc.filename or out
            raise BuildError(f"{where}: {exc.strerror or exc}; the build stopped and resumes when rerun") from None
    finally:
        if isinstance(engine, LocalEngine):
            engine.close()


def _build_locked(opts: BuildOptions, out: Path, inv: Inventory, plan: Plan, engine: Engine) -> BuildReport:
    root = Path(opts.sources)
    class_names = [c.name for c in inv.classes]
    fingerprints = shard_fingerprints(plan, class_names, root)
    # From here on the folder changes: the old manifest no longer describes it, so it goes first
    # (after what it listed is remembered), and the new one is written last.
    _remember_written(out, _written(out))
    (out / mf.MANIFEST_NAME).unlink(missing_ok=True)
    _write_plan_state(out, inv, plan, fingerprints, root)
    _remove_partials(out)

    report = BuildReport(out)
    jobs = []
    parquet = parquet_format(class_names)
    for i in range(plan.num_shards):
        if _record_is_current(out, i, fingerprints[i]):
            report.skipped.append(i)
        else:
            photos = plan.photo_checks.get(i, ())
            jobs.append(ShardJob(i, plan.num_shards, plan.shard(i), str(out), fingerprints[i], parquet, photos=photos))
    total = sum(len(item.rows) for job in jobs for item in job.items)
    heap.trim()  # what planning and fingerprinting freed, before this process builds shards too
    with tqdm(
        total=total, unit="row", desc="build", disable=not opts.progress or not jobs, dynamic_ncols=True, smoothing=0.1
    ) as bar:
        results = engine.run(jobs, _bar_progress(bar), lambda result: _write_record(out, result))
    report.built = sorted(r.index for r in results)
    heap.trim()  # what the shards freed, before the card reads them back
    return finalize(out, report)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _disk_full(out: Path, exc: OSError) -> DiskFull:
    """One line: the folder, what failed, about how many more bytes the build needs, and what is free."""
    state = _read_json(out / mf.STATE_DIR / "plan.json") or {}
    rows_total = int(state.get("row_count", 0))
    written = rows_done = 0
    for i, fp in enumerate(state.get("fingerprints", [])):
        record = _read_record(out, i)
        if record is not None and record.get("fingerprint") == fp:
            written += sum(f["size"] for f in record["files"])
            rows_done += sum(f["num_rows"] for f in record["files"])
    per_row = written / rows_done if rows_done else float(state.get("bytes_per_row_guess", 0))
    needed = max(0, round(per_row * (rows_total - rows_done)))
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        free = 0
    cause = "file size limit reached" if exc.errno == errno.EFBIG else "no space left on device"
    return DiskFull(
        f"{out}: disk full ({cause}); the build needs about {_human(needed)} more ({needed} bytes, "
        f"{rows_total - rows_done} rows to write) and {_human(free)} is free: free some space or pick another "
        "--out, then rerun to resume"
    )


def _write_plan_state(out: Path, inv: Inventory, plan: Plan, fingerprints: list[str], root: Path) -> None:
    rejected = sorted(inv.rejected + plan.rejected, key=lambda r: (r.file, r.reason))
    row_count = sum(len(item.rows) for item in plan.items)
    source_bytes = sum((_stat(item.source.image) or [0])[0] * len(item.rows) for item in plan.items)
    state = {
        "sources_root": Path(os.path.abspath(root)).as_posix(),
        "sources_given": root.as_posix(),
        "source_count": len(inv.sources),
        "configs": list(plan.planned_configs()),
        "not_built": plan.not_built,
        "mixed_rand_rule": plan.mixed_rand_rule,
        "mask_variants": list(plan.mask_variants),
        "seed": plan.seed,
        "sources_per_shard": plan.sources_per_shard,
        "num_shards": plan.num_shards,
        "block_sources": plan.block_sources,
        "classes": [c.to_dict() for c in inv.classes],
        "fingerprints": fingerprints,
        "rejected": [asdict(r) for r in rejected],
        # Photos are checked by the shards that decode them: the manifest counts those not rejected.
        "background_files": sorted([_relative(b.path, root), b.wnid] for b in inv.backgrounds),
        "generated": len(inv.generated),
        "generation_models": generation_models(inv),
        "row_count": row_count,
        # Before any shard is done, a row is guessed at 1.5 times its source file (JPEG q95, PNG masks).
        "bytes_per_row_guess": round(1.5 * source_bytes / row_count) if row_count else 0,
    }
    write_atomic(out / mf.STATE_DIR / "plan.json", canonical_json(state))


def finalize(out: Path, report: BuildReport | None = None) -> BuildReport:
    """When every shard is recorded: drop our stale shards, write rejected.jsonl, the card, and the manifest last."""
    out = Path(out)
    report = report or BuildReport(out)
    state_path = out / mf.STATE_DIR / "plan.json"
    state = _read_json(state_path)
    if state is None:
        raise BuildError(f"{out}: no build state ({state_path}); run `ximagenet12 build` first")
    root = Path(state["sources_root"])
    records = []
    for i, fp in enumerate(state["fingerprints"]):
        record = _read_record(out, i)
        if record is None or record.get("fingerprint") != fp:
            report.missing.append(i)
        else:
            records.append(record)
    rejected = [Rejected(**r) for r in state["rejected"]] + [Rejected(**r) for rec in records for r in rec["rejected"]]
    prefixes = sorted({f"{root.as_posix()}/", f"{state.get('sources_given', root.as_posix())}/"}, key=len)[::-1]

    def stable(reason: str) -> str:
        for prefix in prefixes:
            reason = reason.replace(prefix, "")
        return reason

    unique = {
        (r.file, r.reason, r.stage): r
        for r in (Rejected(_relative(r.file, root), stable(r.reason), r.stage) for r in rejected)
    }
    report.rejected = sorted(unique.values(), key=lambda r: (r.file, r.reason, r.stage))
    files = sorted((mf.FileEntry(**f) for rec in records for f in rec["files"]), key=lambda f: f.path)
    for f in files:
        report.counts.setdefault(f.config, {}).setdefault(f.split, 0)
        report.counts[f.config][f.split] += f.num_rows
    report.greyscale_sources = len({s for rec in records for s in rec.get("greyscale", [])})
    report.not_built = dict(state.get("not_built", {}))
    for name in state["configs"]:
        if name not in report.counts and not report.missing:
            report.not_built[name] = "every planned row was rejected (see rejected.jsonl)"
    if report.missing:
        return report

    _remove_partials(out)  # an attempt killed mid-write (a lost Ray node) leaves its partial file behind
    keep = {f.path for f in files}
    _remove_stale(out, _written(out) - keep)
    _remember_written(out, keep)
    for path in (out / mf.STATE_DIR / "shards").glob("*.json"):
        if not path.stem.isdigit() or int(path.stem) >= len(state["fingerprints"]):
            path.unlink()
    write_atomic(
        out / mf.REJECTED_NAME, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in report.rejected)
    )
    manifest = _manifest(state, files, report)
    if all("sources" in rec for rec in records):
        facts = {
            sid: SourceFacts(wnid, coverage, frozenset(configs), rec["index"])
            for rec in records
            for sid, wnid, coverage, configs in rec["sources"]
        }
        manifest = replace(manifest, pictures=choose_pictures(manifest, facts).to_dict())
    from .card import write_card

    write_card(out, manifest)
    write_atomic(out / mf.MANIFEST_NAME, canonical_json(manifest.to_dict()))
    return report


BUILD_LIBRARIES = ("ximagenet12", "opencv-python-headless", "pillow", "numpy", "pyarrow", "datasets")


def build_versions() -> dict[str, str]:
    """Versions of everything whose output bytes the build depends on."""
    return library_versions(BUILD_LIBRARIES)


def _manifest(state: dict, files: list[mf.FileEntry], report: BuildReport) -> mf.Manifest:
    unreadable = {r.file for r in report.rejected if r.stage == "decode"}
    photos = [(path, wnid) for path, wnid in state.get("background_files", []) if path not in unreadable]
    variants = {parse_variant(spec).suffix[1:]: parse_variant(spec) for spec in state.get("mask_variants", [])}
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
        variant = variants.get(mask_variant_of(name) or "")
        entry = mf.config_entry(name, splits, variant.to_dict() if variant else None)
        if scenario_of(name) == "mixed_rand":
            rule = state.get("mixed_rand_rule", DEFAULT_MIXED_RAND_RULE)
            description = entry.description
            if rule != DEFAULT_MIXED_RAND_RULE:
                description = (
                    "The object pasted by its mask onto the `only_bg_t` background of an image of a random class "
                    "other than its own (built with --mixed-rand other-class, not ImageNet-9's rule), resized "
                    "(bilinear) to this image's size."
                )
            entry = replace(
                entry,
                description=description,
                extra={**entry.extra, "pairing": rule, "pairing_rule": MIXED_RAND_RULES[rule]},
            )
        configs[name] = entry
    return mf.Manifest(
        seed=state["seed"],
        sources_per_shard=state["sources_per_shard"],
        num_shards=state["num_shards"],
        block_sources=state.get("block_sources"),
        encoding={
            "jpeg_quality": JPEG_QUALITY,
            "png": "OpenCV, lossless",
            "original": "source bytes; PNG of the displayed pixels when the file carries an EXIF orientation",
        },
        split_rule=SPLIT_RULE,
        classes=tuple(ClassInfo(**c) for c in state["classes"]),
        sources=mf.SourceCounts(
            annotated=state["source_count"],
            background_photos=len(photos),
            generated_images=state["generated"],
            rejected_files=len({r.file for r in report.rejected if r.stage != "plan"}),
            greyscale_sources=report.greyscale_sources,
            background_classes=tuple(sorted({wnid for _, wnid in photos if wnid})),
            generation_models=tuple(state.get("generation_models", [])),
        ),
        configs=configs,
        files=tuple(mf.FileEntry(**f.to_dict()) for f in files),
        versions=build_versions(),
        not_built={name: report.not_built[name] for name in SCENARIOS if name in report.not_built},
    )


def _remove_stale(out: Path, ours: set[str]) -> None:
    """Remove shards of ours that the new build no longer has; then any folder of ours left empty."""
    for rel in sorted(ours):
        path = out / rel
        if path.is_file() and not path.is_symlink():
            path.unlink()
            parent = path.parent
            if parent != out / mf.DATA_DIR and not any(parent.iterdir()):
                parent.rmdir()
