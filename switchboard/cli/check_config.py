"""`switchboard check-config DIR [--previous DIR]`: validate an organisation folder."""

from __future__ import annotations

import argparse
import sys

from switchboard.cli.common import load_or_report


def _check_config(args: argparse.Namespace) -> int:
    """Exit 0 with a one-line summary, or 2 with one line per problem; never a traceback."""
    previous = None
    if args.previous is not None:  # HAL-11: the folder as it was before this change
        previous = load_or_report(args.previous)
        if previous is None:
            return 2
    config = load_or_report(args.dir, previous)
    if config is None:
        return 2
    d = config.directory
    for warning in config.warnings:  # HAL-16: reported, and the folder is still valid
        print(warning, file=sys.stderr)
    with_calendar = sum(1 for u in d.users if u.calendar is not None)
    warned = f" with {len(config.warnings)} warning(s)" if config.warnings else ""
    print(
        f"{config.org.name}: {len(d.users)} users ({with_calendar} with calendars), "
        f"{len(d.groups)} groups, {len(d.shared_phones)} shared phones, "
        f"series {', '.join(p.replace('X', 'x') for p in config.org.plan.patterns_e164())}: "
        f"ok{warned}"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add check-config."""
    p = sub.add_parser("check-config", help="validate an organisation folder")
    p.add_argument("dir")
    p.add_argument(
        "--previous",
        metavar="DIR",
        help="the folder as it is in force: a number passed to a successor needs a new PIN",
    )
    p.set_defaults(func=_check_config)
