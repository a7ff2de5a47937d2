"""The `card`, `check` and `publish` subcommands of `ximagenet12`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ximagenet12 import manifest as mf

from ..hub.errors import EXIT_FAULTS, EXIT_USAGE, PublishError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `card`, `check` and `publish`."""
    p = sub.add_parser(
        "card",
        help="(re)render DIR/README.md and its assets from the build manifest",
        description="Render the dataset card (README.md) and its sample grid (assets/) from DIR/build_manifest.json.",
    )
    p.add_argument("dir", type=Path, help="a build folder")
    p.add_argument("--repo-id", help="the Hub repo the card's loading examples name (default: <namespace>/ximagenet12)")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser(
        "check",
        help="check a build folder for the Hub, its viewer and load_dataset",
        description="Check the card's YAML, data-file patterns, counts, sizes, sha256s, row groups, page index "
        "and streaming of every config. Prints one line per fault and exits 1 if there is any.",
    )
    p.add_argument("dir", type=Path, help="a build folder")
    p.add_argument("--no-stream", action="store_true", help="skip reading each config's first rows in streaming")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "publish",
        help="upload a checked build folder to a Hugging Face dataset repo",
        description="Check DIR, plan against the repo (files to add, change, delete) and upload only what changed. "
        "The token comes from HF_TOKEN or the login cache (`hf auth login`); HF_ENDPOINT picks the Hub. "
        "An interrupted upload resumes when the same command is run again.",
    )
    p.add_argument("dir", type=Path, help="a build folder")
    p.add_argument("--repo-id", required=True, help="NAMESPACE/NAME of the dataset repo (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--create-pr", action="store_true", help="commit to a new pull request instead of main")
    p.add_argument("--tag", help="tag the published commit of main, e.g. v1.0")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.set_defaults(func=cmd_publish)


def cmd_card(args: argparse.Namespace) -> int:
    """`ximagenet12 card`."""
    from ..card import write_card

    try:
        manifest = mf.read_manifest(args.dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    write_card(args.dir, manifest, args.repo_id)
    print(f"wrote {args.dir / 'README.md'}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """`ximagenet12 check`."""
    from ..check import check_build

    faults = check_build(args.dir, stream=not args.no_stream)
    for fault in faults:
        print(fault)
    if faults:
        print(f"{args.dir}: {len(faults)} faults", file=sys.stderr)
        return EXIT_FAULTS
    print(f"{args.dir}: ready to publish")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """`ximagenet12 publish`."""
    from ..hub.publish import publish

    if args.repo_id.count("/") != 1 or not all(args.repo_id.split("/")):
        print(f"error: --repo-id must be NAMESPACE/NAME, not {args.repo_id!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = publish(
            args.dir,
            args.repo_id,
            private=args.private,
            create_pr=args.create_pr,
            tag=args.tag,
            dry_run=args.dry_run,
        )
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.dry_run and result.pr_url is None:
        from ..card import default_config

        config = default_config(mf.read_manifest(args.dir))
        print(f"load it with: load_dataset({args.repo_id!r}, {config!r}, split='test')")
    return 0
