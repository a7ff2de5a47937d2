"""`ximagenet12 leaderboard`: several `evaluate` runs of one build compared in md/csv/json and a picture."""

from __future__ import annotations

import argparse


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register `leaderboard` on a subparsers object."""
    lb = subparsers.add_parser(
        "leaderboard",
        help="compare evaluate runs of one build",
        description="Read the --out folders of several `ximagenet12 evaluate` runs of the same build and split "
        "(mixed builds or splits are refused) and write leaderboard.md, .csv, .json and .png: per model the "
        "original top-1, each scenario's top-1 and drop with 95%% intervals, the robustness score, the BG-gap "
        "and the backgrounds-challenge accuracy, sorted by the score; with explanations of the same model and "
        "build (`ximagenet12 explain`, in the run's folder or given with --explanations), its object focus.",
    )
    lb.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="evaluate output folders")
    lb.add_argument("--out", default="leaderboard", help="output folder (default leaderboard/)")
    lb.add_argument("--names", help="comma-separated display names, one per folder (default: from the specs)")
    lb.add_argument("--explanations", nargs="+", default=[], metavar="EXPLAIN_DIR",
                    help="explain output folders; each gives the run of the same model, build and split an "
                    "'object focus' column (explain folders inside a run's folder are read without this)")
    lb.add_argument("--no-picture", action="store_true", help="skip leaderboard.png")
    lb.set_defaults(func=run_leaderboard)


def run_leaderboard(args: argparse.Namespace) -> int:
    """Run `ximagenet12 leaderboard`."""
    from ximagenet12.evaluation.leaderboard import collect, to_markdown, write_leaderboard

    names = [n.strip() for n in args.names.split(",")] if args.names else None
    entries = collect(args.results, names, args.explanations)
    files = write_leaderboard(entries, args.out, picture=not args.no_picture)
    print(to_markdown(entries).split("\n## ")[0].rstrip())
    print(f"\nwrote {', '.join(str(p) for p in files.values())}")
    return 0
