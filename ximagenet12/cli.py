"""The `ximagenet12` command line: one CLI, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = (
    "ximagenet12.preview",
    "ximagenet12_builder.cli",
    "ximagenet12_builder.hub_cli",
    "ximagenet12.evaluation.cli",
)


def make_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from ximagenet12 import __version__

    parser = argparse.ArgumentParser(
        prog="ximagenet12", description="Build, check, publish, load and score XImageNet-12."
    )
    parser.add_argument("--version", action="version", version=f"ximagenet12 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ximagenet12` command."""
    args = make_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
