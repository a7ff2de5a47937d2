"""`ximagenet12 build`: sources to a Hub-ready folder of Parquet shards, manifest and card."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from ximagenet12.errors import EXIT_FAULTS, EXIT_USAGE
from ximagenet12.scenarios import order_configs

from ..engines import ENGINES, make_engine
from ..pipeline import BuildError, BuildOptions, BuildReport, NoSources, run_build
from ..plan import (
    DEFAULT_MIXED_RAND_RULE,
    DEFAULT_SEED,
    MIN_SHARDS,
    MIN_SOURCES_PER_SHARD,
    MIXED_RAND_RULES,
    SOURCES_PER_SHARD,
)

SAMPLE_OUT = Path("ximagenet12-sample")


def _whole(text: str) -> int:
    """An option that must be a whole number (its range is checked with the other options)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the builder's subcommands."""
    p = sub.add_parser(
        "build",
        help="build every scenario from SOURCES into a Hub-ready Parquet folder",
        description=(
            "Build Parquet shards, the manifest and the card. "
            "With no SOURCES, builds the sample shipped with the package."
        ),
    )
    p.add_argument("sources", nargs="?", type=Path, help="sources folder (default: the shipped sample)")
    p.add_argument("--out", type=Path, help=f"output folder, new or empty or an earlier build (sample: ./{SAMPLE_OUT})")
    p.add_argument("--configs", help="comma-separated configs to build (default: all that the inputs allow)")
    p.add_argument(
        "--workers", type=_whole, help="processes building shards: this one and N-1 spawned (--engine local, default 1)"
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where shard jobs run: worker processes on this machine (default), or the tasks of a Ray cluster",
    )
    p.add_argument(
        "--address",
        help="the Ray cluster of --engine ray: auto, HOST:PORT or ray://HOST:10001 "
        "(default: RAY_ADDRESS, else a cluster started on this machine, else a new local one)",
    )
    p.add_argument("--seed", type=_whole, default=DEFAULT_SEED, help=f"release seed (default {DEFAULT_SEED})")
    p.add_argument("--backgrounds", type=Path, help="background photos (default: SOURCES/backgrounds)")
    p.add_argument("--ai-backgrounds", type=Path, help="AI-generated images (default: SOURCES/ai_backgrounds)")
    p.add_argument("--classes", type=Path, help="class table JSON (default: SOURCES/classes.json, else the 12 classes)")
    p.add_argument(
        "--sources-per-shard",
        type=_whole,
        help=f"sources per Parquet shard (at least 1; default: {MIN_SHARDS} nearly equal shards of "
        f"{MIN_SOURCES_PER_SHARD} to {SOURCES_PER_SHARD} sources, more shards above {MIN_SHARDS * SOURCES_PER_SHARD})"
    )
    p.add_argument(
        "--mixed-rand",
        choices=list(MIXED_RAND_RULES),
        default=DEFAULT_MIXED_RAND_RULE,
        help="mixed_rand partners: 'in9' = ImageNet-9's rule, a random class with the own class included "
        "(default); 'other-class' = never the source's own class",
    )
    p.add_argument(
        "--mask-variant",
        action="append",
        default=[],
        metavar="SPEC",
        help="also build every config but original and ai_bg from masks changed as a coarser annotation tool would: "
        "erode:K, dilate:K (K pixels) or simplify:EPS (Douglas-Peucker, EPS pixels); configs are named e.g. "
        "seg_img@dilate3, with the same draws and partners as seg_img (repeatable)",
    )
    p.add_argument("--strict", action="store_true", help="exit non-zero if any input was rejected")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_build)
    p.error = _one_line_error  # type: ignore[method-assign]


def _one_line_error(message: str) -> NoReturn:
    """A bad option is one line, like every other build error (argparse would print its usage first)."""
    print(f"ximagenet12 build: error: {message} (see ximagenet12 build --help)", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _print_report(report: BuildReport, out: Path) -> None:
    if report.counts:
        width = max(len(c) for c in report.counts)
        print(f"\n{'config':<{width}}  {'train':>7}  {'test':>6}")
        for config in order_configs(report.counts):
            splits = report.counts[config]
            print(f"{config:<{width}}  {splits.get('train', 0):>7}  {splits.get('test', 0):>6}")
    print(
        f"\n{report.num_rows} rows in {len(report.counts)} configs; "
        f"shards built {len(report.built)}, already done {len(report.skipped)}"
    )
    if report.not_built:
        print("not built, because the inputs cannot produce them:")
        for config in order_configs(report.not_built):
            print(f"  {config}: {report.not_built[config]}")
    if report.greyscale_sources:
        print(
            f"greyscale sources: {report.greyscale_sources} (their color_* rows equal the original image; "
            "each such row says so in its params)"
        )
    for what, entries in (("skipped", report.unpaired), ("rejected", report.faults)):
        if entries:
            print(f"{what}: {len(entries)} (see {out / 'rejected.jsonl'})")
            for r in entries[:5]:
                print(f"  {r.line()}")
            if len(entries) > 5:
                print(f"  ... and {len(entries) - 5} more")


def cmd_build(args: argparse.Namespace) -> int:
    """`ximagenet12 build`."""
    if args.sources is None:
        from ximagenet12.sample_data import sample_root

        sources, out = sample_root(), args.out or SAMPLE_OUT
    else:
        if args.out is None:
            raise BuildError("--out is required when SOURCES is given")
        sources, out = args.sources, args.out
    if args.engine == "ray" and args.workers is not None:
        raise BuildError("--workers is for --engine local; a Ray cluster runs one shard task per free CPU")
    if args.engine != "ray" and args.address is not None:
        raise BuildError("--address is for --engine ray")
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip()) if args.configs is not None else None
    workers = 1 if args.workers is None else args.workers
    opts = BuildOptions(
        sources=Path(sources),
        out=out,
        configs=configs,
        workers=workers,
        seed=args.seed,
        backgrounds=args.backgrounds,
        ai_backgrounds=args.ai_backgrounds,
        classes=args.classes,
        sources_per_shard=args.sources_per_shard,
        progress=not args.no_progress,
        mixed_rand_rule=args.mixed_rand,
        mask_variants=tuple(args.mask_variant),
    )
    engine = make_engine(args.engine, workers=workers, address=args.address) if args.engine != "local" else None
    try:
        report = run_build(replace(opts, engine=engine))
    except NoSources as exc:
        print("ximagenet12 build reads these layouts under SOURCES (any mix):", file=sys.stderr)
        for line in exc.layouts:
            print(f"  {line}", file=sys.stderr)
        raise
    finally:
        if engine is not None:
            engine.close()
    _print_report(report, out)
    if report.missing:
        print(
            f"ximagenet12 build: error: {len(report.missing)} shards have no record; rerun the build to finish",
            file=sys.stderr,
        )
        return EXIT_FAULTS
    if report.num_rows == 0:
        raise BuildError("nothing was built: every source was rejected (see rejected.jsonl)", EXIT_FAULTS)
    where = str(out.resolve())
    built = order_configs(report.counts)
    config = "rand_bg" if "rand_bg" in built else built[0]
    split = "test" if report.counts[config].get("test") else "train"
    print(
        f"\nbuilt {where}\nload it with:\n"
        f"  from datasets import load_dataset\n"
        f"  ds = load_dataset({where!r}, {config!r}, split={split!r})\n"
        f"  ds = load_dataset({where!r}, {config!r}, split={split!r}, streaming=True)\n"
        f"  import ximagenet12; ds = ximagenet12.load({config!r}, split={split!r}, data_dir={where!r})"
    )
    if args.strict and report.faults:
        raise BuildError("--strict and some inputs were rejected (see rejected.jsonl)", EXIT_FAULTS)
    return 0
