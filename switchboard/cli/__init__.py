"""The `switchboard` console script: each command (or family of commands sharing a parser)
registers itself from its own module of this package; `common` holds what they share."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Sequence

# Each module exposes `register(subparsers)`, adding parsers whose `func(args) -> int` runs them.
# The order is the order of `switchboard --help`.
COMMAND_MODULES = (
    "switchboard.cli.check_config",  # check-config
    "switchboard.cli.route",  # route
    "switchboard.cli.presence",  # presence
    "switchboard.cli.sync",  # sync
    "switchboard.cli.registry",  # registry ...
    "switchboard.cli.run",  # run
    "switchboard.cli.call",  # call
    "switchboard.cli.platform",  # platform
    "switchboard.cli.simulate",  # simulate
    "switchboard.cli.web",  # web, web-passwd
    "switchboard.cli.migrate",  # migrate
    "switchboard.cli.asterisk_config",  # asterisk-config
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


__all__ = ["COMMAND_MODULES", "build_parser", "main"]
