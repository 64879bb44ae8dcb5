"""The `switchboard` console script: each feature registers its sub-commands from its own module."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# Each module exposes `register(subparsers)`, adding parsers whose `func(args) -> int` runs them.
COMMAND_MODULES = (
    "switchboard.cli_core",  # check-config, route, presence
    "switchboard.cli_sync",  # sync
    "switchboard.cli_registry",  # registry ...
    "switchboard.cli_run",  # run, call
    "switchboard.cli_simulate",  # simulate
    "switchboard.cli_web",  # web, web-passwd
    "switchboard.cli_storage",  # migrate
    "switchboard.cli_asterisk",  # asterisk-config
)


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message for bad arguments."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available feature's commands."""
    parser = _Parser(
        prog="switchboard",
        description="Calendar-driven call redirection (hänvisning), voicemail as public records "
        "(allmän handling) and day simulation for a municipality's telephones.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
