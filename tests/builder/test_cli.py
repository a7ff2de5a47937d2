"""The `ximagenet12` command line: which module registers which subcommand, and what a command imports."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest
from ximagenet12_builder.cli import COMMAND_MODULES, COMMANDS, main


def test_each_command_is_registered_by_the_module_the_table_names() -> None:
    registered = {}
    for module in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_parsers(sub)
        registered.update(dict.fromkeys(sub.choices, module))
    assert registered == COMMANDS


def test_help_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    listed = capsys.readouterr().out
    assert all(command in listed for command in COMMANDS)


def test_a_command_line_imports_only_its_own_command_module() -> None:
    code = (
        "import sys\n"
        "from ximagenet12_builder.cli import main\n"
        "try:\n"
        "    main(['build', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('ximagenet12_builder.cli.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "['ximagenet12_builder.cli.build']"
