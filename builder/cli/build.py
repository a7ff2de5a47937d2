"""`ximagenet12 build`: sources to a Hub-ready folder of Parquet shards, manifest and card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ximagenet12.errors import XImageNet12Error
from ximagenet12.scenarios import SCENARIOS

from ..engines import ENGINES, make_engine
from ..pipeline import BuildLocked, BuildOptions, BuildReport, run_build
from ..plan import DEFAULT_SEED, SOURCES_PER_SHARD

SAMPLE_OUT = Path("ximagenet12-sample")


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
    p.add_argument("--out", type=Path, help=f"output folder (default for the sample: ./{SAMPLE_OUT})")
    p.add_argument("--configs", help="comma-separated configs to build (default: all that the inputs allow)")
    p.add_argument("--workers", type=int, help="worker processes of --engine local (default 1)")
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
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"release seed (default {DEFAULT_SEED})")
    p.add_argument("--backgrounds", type=Path, help="background photos (default: SOURCES/backgrounds)")
    p.add_argument("--ai-backgrounds", type=Path, help="AI-generated images (default: SOURCES/ai_backgrounds)")
    p.add_argument("--classes", type=Path, help="class table JSON (default: SOURCES/classes.json, else the 12 classes)")
    p.add_argument("--sources-per-shard", type=int, default=SOURCES_PER_SHARD, help="sources per Parquet shard")
    p.add_argument("--strict", action="store_true", help="exit non-zero if any input was rejected")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_build)


def _print_report(report: BuildReport, out: Path) -> None:
    if report.counts:
        width = max(len(c) for c in report.counts)
        print(f"\n{'config':<{width}}  {'train':>7}  {'test':>6}")
        for config in sorted(report.counts, key=list(SCENARIOS).index):
            splits = report.counts[config]
            print(f"{config:<{width}}  {splits.get('train', 0):>7}  {splits.get('test', 0):>6}")
    print(
        f"\n{report.num_rows} rows in {len(report.counts)} configs; "
        f"shards built {len(report.built)}, already done {len(report.skipped)}"
    )
    for what, entries in (("skipped", report.unpaired), ("rejected", report.faults)):
        if entries:
            print(f"{what}: {len(entries)} (see {out / 'rejected.jsonl'})")
            for r in entries[:5]:
                print(f"  {r.file}: {r.reason}")
            if len(entries) > 5:
                print(f"  ... and {len(entries) - 5} more")


def cmd_build(args: argparse.Namespace) -> int:
    """`ximagenet12 build`."""
    if args.sources is None:
        from ximagenet12.sample_data import sample_root

        sources, out = sample_root(), args.out or SAMPLE_OUT
    else:
        if args.out is None:
            print("error: --out is required when SOURCES is given", file=sys.stderr)
            return 2
        sources, out = args.sources, args.out
    if args.engine == "ray" and args.workers is not None:
        raise XImageNet12Error("--workers is for --engine local; a Ray cluster runs one shard task per free CPU")
    if args.engine != "ray" and args.address is not None:
        raise XImageNet12Error("--address is for --engine ray")
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip()) if args.configs else None
    workers = max(1, args.workers or 1)
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
        engine=make_engine(args.engine, workers=workers, address=args.address),
    )
    try:
        report = run_build(opts)
    except (BuildLocked, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_report(report, out)
    if report.missing:
        print(f"error: {len(report.missing)} shards have no record; rerun the build to finish", file=sys.stderr)
        return 1
    if report.num_rows == 0:
        print("error: nothing was built", file=sys.stderr)
        return 1
    where = str(out.resolve())
    print(
        f"\nbuilt {where}\nload it with:\n"
        f"  from datasets import load_dataset\n"
        f"  ds = load_dataset({where!r}, 'rand_bg', split='test')\n"
        f"  ds = load_dataset({where!r}, 'rand_bg', split='test', streaming=True)\n"
        f"  import ximagenet12; ds = ximagenet12.load('rand_bg', split='test', data_dir={where!r})"
    )
    if args.strict and report.faults:
        print("error: --strict and some inputs were rejected", file=sys.stderr)
        return 1
    return 0
