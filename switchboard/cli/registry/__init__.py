"""`switchboard registry …`: intake and the registrar's work on the public-records register."""

from __future__ import annotations

import argparse
from datetime import date

from switchboard.cli.registry.actions import cmd_classify, cmd_dispose, cmd_hide, cmd_play
from switchboard.cli.registry.checks import cmd_overdue, cmd_verify
from switchboard.cli.registry.intake import cmd_intake
from switchboard.cli.registry.records import FORMATS, cmd_export, cmd_list, cmd_show
from voicemail.models import Classification, RecordStatus


def _common(p: argparse.ArgumentParser, now: bool = False) -> None:
    p.add_argument("dir", metavar="DIR", help="organisation folder (config)")
    p.add_argument(
        "--db", metavar="PATH", help="register database (default: in the data directory)"
    )
    if now:
        p.add_argument("--now", metavar="ISO", help="the time to act at (default: now)")


def _nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-24") from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `registry` and its sub-commands to the `switchboard` parser."""
    parser = subparsers.add_parser(
        "registry", help="voicemail intake and the public-records register", description=__doc__
    )
    sub = parser.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")

    p = sub.add_parser("intake", help="take messages from the app_voicemail spool")
    _common(p, now=True)
    p.add_argument("--spool", metavar="PATH", help="spool root (default: configured or data/spool)")
    p.add_argument("--once", action="store_true", help="take in what is there now and exit")
    p.add_argument("--interval", type=_nonnegative, default=2.0, help="seconds between passes")
    p.add_argument("--settle", type=_nonnegative, default=2.0, help="seconds a file must be quiet")
    p.add_argument(
        "--keep-spool", action="store_true", help="the default: the spool is the phone mailbox"
    )
    p.add_argument(
        "--empty-spool",
        action="store_true",
        help="remove taken messages from the spool (empties the owners' phone mailboxes)",
    )
    p.set_defaults(func=cmd_intake)

    p = sub.add_parser("list", help="list records; --queue: awaiting classification, oldest first")
    _common(p, now=True)
    p.add_argument("--queue", action="store_true", help="the registrar's queue (REC-02)")
    p.add_argument("--status", choices=[s.value for s in RecordStatus])
    p.add_argument("--owner", metavar="USER")
    p.add_argument("--year", type=_positive_int)
    p.add_argument("--limit", type=_positive_int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="one record and its audit trail")
    _common(p)
    p.add_argument("ref", metavar="RECORD", help="registration number or id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("classify", help="classify a record (registrars)")
    _common(p, now=True)
    p.add_argument("ref", metavar="RECORD")
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.add_argument(
        "--class",
        dest="classification",
        required=True,
        choices=[c.value for c in Classification],
    )
    p.add_argument("--summary", required=True, help="what it concerns (REC-01)")
    p.add_argument("--case", metavar="REF", help="case reference (public_registered)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("play", help="get a message's audio (audited)")
    _common(p, now=True)
    p.add_argument("ref", metavar="RECORD")
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.add_argument(
        "--out", metavar="FILE", help="write the audio here instead of printing its path"
    )
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("hide", help="the owner's delete: hide a message from its owner")
    _common(p, now=True)
    p.add_argument("ref", metavar="RECORD")
    p.add_argument("--as", dest="actor", required=True, metavar="USER")
    p.set_defaults(func=cmd_hide)

    p = sub.add_parser("verify", help="check the audit hash chain and audio hashes")
    _common(p)
    p.add_argument("--no-audio", action="store_true", help="check the audit chain only")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("dispose", help="run the configured disposal rules (gallring)")
    _common(p, now=True)
    p.add_argument("--as", dest="actor", default="system:disposal", metavar="USER")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(func=cmd_dispose)

    p = sub.add_parser("overdue", help="mailboxes unheard for more than one working day")
    _common(p, now=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_overdue)

    p = sub.add_parser("export", help="export the register")
    _common(p)
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("--year", type=_positive_int)
    for flag, dest, what in (
        ("--from", "from_day", "on or after"),
        ("--to", "to_day", "on or before"),
    ):
        p.add_argument(flag, dest=dest, type=_day, metavar="YYYY-MM-DD", help=f"arrived {what}")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_export)
