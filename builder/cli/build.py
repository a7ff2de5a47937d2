"""`ximagenet12 build`: sources to a Hub-ready folder of Parquet shards, manifest and card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ximagenet12.scenarios import SCENARIOS

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
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--num-shards", type=int, default=1, help="split the work into N parts, for N machines")
    p.add_argument("--shard-index", type=int, default=0, help="the part this machine builds (0-based)")
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
    if not 0 <= args.shard_index < args.num_shards:
        print(f"error: --shard-index must be in 0..{args.num_shards - 1}", file=sys.stderr)
        return 2
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip()) if args.configs else None
    opts = BuildOptions(
        sources=Path(sources),
        out=out,
        configs=configs,
        workers=max(1, args.workers),
        num_parts=args.num_shards,
        part_index=args.shard_index,
        seed=args.seed,
        backgrounds=args.backgrounds,
        ai_backgrounds=args.ai_backgrounds,
        classes=args.classes,
        sources_per_shard=args.sources_per_shard,
        progress=not args.no_progress,
    )
    try:
        report = run_build(opts)
    except (BuildLocked, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_report(report, out)
    if report.missing:
        print(
            f"\nthis part is done; {len(report.missing)} shards are built elsewhere. Copy every part's "
            f"{out}/data and {out}/.build into one folder, then run `ximagenet12 build` there again to finish."
        )
        return 0 if report.built or report.skipped else 1
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
