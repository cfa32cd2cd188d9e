"""The ``pimtune`` argument parser: ``--version``, and usage errors that end in one
``pimtune: error: ...`` line like every other bad input (argparse's own last line reads
``pimtune synth: error: ...``)."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version


class Parser(argparse.ArgumentParser):
    """An ArgumentParser (sub-command parsers are of this class too) whose usage errors
    print the usage, then ``pimtune: error: COMMAND: message``, and exit 2."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"pimtune: error: {command}{message}\n")


def pimtune_version() -> str:
    """The installed package's version ("unknown" when run from an uninstalled checkout)."""
    try:
        return version("pimtune")
    except PackageNotFoundError:
        return "unknown"


def add_version_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"pimtune {pimtune_version()}")
