"""The `card`, `check` and `publish` subcommands of `ximagenet12`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ximagenet12 import manifest as mf
from ximagenet12.errors import EXIT_FAULTS, EXIT_USAGE, EXIT_WRITE, XImageNet12Error


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `card`, `check` and `publish`."""
    p = sub.add_parser(
        "card",
        help="(re)render DIR/README.md and its pictures from the build manifest",
        description="Render the dataset card (README.md) and its pictures (assets/) from DIR/build_manifest.json. "
        "Each file is written to a temporary name and renamed, so an interrupted or failed write leaves the "
        "previous file whole.",
    )
    p.add_argument("dir", type=Path, help="a build folder")
    p.add_argument("--repo-id", help="the Hub repo the card's loading examples name (default: <namespace>/ximagenet12)")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser(
        "check",
        help="check a build folder for the Hub, its viewer and load_dataset",
        description="Check the manifest, the card's YAML, data-file patterns, counts, sizes, sha256s, row groups, "
        "page index and streaming of every config. Prints one line per fault and exits 1 if there is any. Files "
        "that are not part of the release are listed as notes: publish leaves them out, so they are not faults.",
    )
    p.add_argument("dir", type=Path, help="a build folder")
    p.add_argument("--no-stream", action="store_true", help="skip reading each config's first rows in streaming")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "publish",
        help="upload a checked build folder to a Hugging Face dataset repo",
        description="Check DIR with the card rendered for the repo, plan against the repo (files to add, change, "
        "delete) and upload only what changed, in one commit. Deletes only remote files named like our shards "
        "(data/<scenario>/<split>-NNNNN-of-NNNNN.parquet) that the build no longer has. The token comes from "
        "HF_TOKEN or the login cache (`hf auth login`); HF_ENDPOINT picks the Hub. An interrupted upload resumes "
        "when the same command is run again. DIR/README.md is rewritten (to the pushed card) only after a "
        "successful push.",
    )
    p.add_argument("dir", type=Path, help="a build folder")
    p.add_argument("--repo-id", required=True, help="NAMESPACE/NAME of the dataset repo (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--create-pr", action="store_true", help="commit to a new pull request instead of main")
    p.add_argument("--tag", help="tag the published commit of main, e.g. v1.0")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument(
        "--no-stream-check",
        action="store_true",
        help="skip check's streaming probe (every other check still runs); for a folder `check` already passed",
    )
    p.add_argument("--no-progress", action="store_true", help="no upload progress bar")
    p.set_defaults(func=cmd_publish)


def cmd_card(args: argparse.Namespace) -> int:
    """`ximagenet12 card`."""
    from ..card import write_card

    manifest = mf.read_manifest(args.dir)
    try:
        write_card(args.dir, manifest, args.repo_id)
    except OSError as exc:
        where = exc.filename or args.dir
        raise XImageNet12Error(f"{where}: cannot write the card: {exc.strerror or exc}", EXIT_WRITE) from None
    print(f"wrote {args.dir / mf.CARD_NAME}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """`ximagenet12 check`."""
    from ..check import check_folder

    report = check_folder(args.dir, stream=not args.no_stream)
    for fault in report.faults:
        print(fault)
    for line in report.foreign_lines():
        print(f"note: {line}")
    if report.faults:
        print(f"{args.dir}: {len(report.faults)} faults", file=sys.stderr)
        return EXIT_FAULTS
    left_out = f" ({len(report.foreign)} files that are not part of it are left out)" if report.foreign else ""
    print(f"{args.dir}: ready to publish{left_out}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """`ximagenet12 publish`."""
    from ..hub.publish import publish

    if args.repo_id.count("/") != 1 or not all(args.repo_id.split("/")):
        raise XImageNet12Error(f"--repo-id must be NAMESPACE/NAME, not {args.repo_id!r}", EXIT_USAGE)
    result = publish(
        args.dir,
        args.repo_id,
        private=args.private,
        create_pr=args.create_pr,
        tag=args.tag,
        dry_run=args.dry_run,
        stream_check=not args.no_stream_check,
        progress=False if args.no_progress else None,
    )
    if not args.dry_run and result.pr_url is None:
        from ..card import default_config

        config = default_config(mf.read_manifest(args.dir))
        print(f"load it with: load_dataset({args.repo_id!r}, {config!r}, split='test')")
    return 0
