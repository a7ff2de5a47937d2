"""The `ximagenet12` command: the top layer, one module per group of subcommands, importing downward only.

Each module has `add_parsers(subparsers)`; each subcommand's function returns an exit code or raises an
`XImageNet12Error` (or one of the file errors below), which `main` prints as one line:
`ximagenet12 <command>: error: <message>`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Arrow's default pool (mimalloc) keeps the pages it frees: at 2,000 sources a one-worker build peaked at
# 459 MB with it and at 396 MB with the C library's malloc, for the same time. Arrow reads this once, before
# its first allocation, so it is set before anything imports pyarrow; worker processes inherit it.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from ximagenet12.errors import EXIT_INTERRUPTED, EXIT_USAGE, XImageNet12Error

# Each subcommand and the module that registers it: a command line imports only its command's module.
COMMANDS: dict[str, str] = {
    "build": "ximagenet12_builder.cli.build",
    "card": "ximagenet12_builder.cli.release",
    "check": "ximagenet12_builder.cli.release",
    "publish": "ximagenet12_builder.cli.release",
    "preview": "ximagenet12_builder.cli.preview",
    "evaluate": "ximagenet12_builder.cli.evaluate",
    "score": "ximagenet12_builder.cli.evaluate",
    "agreement": "ximagenet12_builder.cli.agreement",
    "generate-backgrounds": "ximagenet12_builder.cli.generate",
    "leaderboard": "ximagenet12_builder.cli.leaderboard",
    "explain": "ximagenet12_builder.cli.explain",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))
# Errors that name a file and say what is wrong with it: printed as one line, exit code 2.
FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def make_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with `command`'s module registered, or every subcommand's when it is not one."""
    from ximagenet12 import __version__

    parser = argparse.ArgumentParser(
        prog="ximagenet12", description="Build, check, publish, load and score XImageNet-12."
    )
    parser.add_argument("--version", action="version", version=f"ximagenet12 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def _say(command: str, message: str) -> None:
    first = str(message).strip().splitlines()[0] if str(message).strip() else type(message).__name__
    print(f"ximagenet12 {command}: error: {first}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ximagenet12` command."""
    words = sys.argv[1:] if argv is None else argv
    args = make_parser(next((w for w in words if not w.startswith("-")), None)).parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away shows here, inside the try, not at interpreter exit
        return code
    except XImageNet12Error as exc:
        _say(args.command, str(exc))
        return exc.exit_code
    except FILE_ERRORS as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _say(args.command, f"{where}{exc.strerror or exc}")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`ximagenet12 build | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        _say(args.command, "interrupted")
        return EXIT_INTERRUPTED
