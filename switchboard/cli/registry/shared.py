"""What the `registry` commands share: exit codes, loading the organisation, `--now`, and
running one piece of work on the opened register with its errors turned into one line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiosqlite

from routing.models import Organisation
from switchboard.config import Config, ConfigError, load_config
from switchboard.storage import open_register
from voicemail import exports
from voicemail.errors import (
    InvalidClassification,
    NotPermitted,
    RecordDisposed,
    StorageError,
    UnknownRecord,
    VoicemailError,
)
from voicemail.models import PublicRecord, RecordStatus, VoicemailSettings
from voicemail.service import Register

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem (broken audit chain, storage error)
EXIT_USAGE = 2  # bad arguments, unknown ids, invalid configuration
EXIT_FORBIDDEN = 3  # ALV-14: the actor may not do this


class CommandError(Exception):
    """A one-line error for the user, with the exit code to return."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def load(folder: str) -> Config:
    """The organisation, through the shared config loader."""
    try:
        return load_config(folder)
    except ConfigError as exc:
        raise CommandError("invalid configuration:\n" + "\n".join(exc.problems)) from None


def now_arg(args: argparse.Namespace) -> datetime:
    text: str | None = getattr(args, "now", None)
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--now {text!r}: not an ISO 8601 date and time") from None
    if value.tzinfo is None:
        raise CommandError(f"--now {text!r}: give a UTC offset, e.g. 2026-11-23T17:00+01:00")
    return value


def _waiting(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days} d {hours} h" if days else f"{hours} h {mins} min"


def run_on_register(
    args: argparse.Namespace,
    work: Callable[[Register, Organisation, VoicemailSettings], Awaitable[int]],
) -> int:
    """Load config, open the register, run `work`, and turn domain errors into one line."""
    try:
        config = load(args.dir)
        org, settings = config.org, config.voicemail

        async def main() -> int:
            register = await open_register(config, args.db)  # the configured storage engine
            try:
                return await work(register, org, settings)
            finally:
                await register.close()

        return asyncio.run(main())
    except CommandError as exc:
        print(f"switchboard registry {args.registry_command}: {exc}", file=sys.stderr)
        return exc.code
    except (UnknownRecord, InvalidClassification, RecordDisposed) as exc:
        flag = {"case_reference": " (--case)", "summary": " (--summary)"}.get(
            getattr(exc, "field", None) or "", ""
        )
        print(f"switchboard registry {args.registry_command}: {exc}{flag}", file=sys.stderr)
        return EXIT_USAGE
    except NotPermitted as exc:
        print(f"switchboard registry {args.registry_command}: {exc}", file=sys.stderr)
        return EXIT_FORBIDDEN
    except (StorageError, VoicemailError, OSError) as exc:
        print(f"switchboard registry {args.registry_command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except aiosqlite.Error as exc:  # a damaged file that fails mid-command
        print(
            f"switchboard registry {args.registry_command}: the register database failed: {exc}",
            file=sys.stderr,
        )
        return EXIT_FAILED


def record_line(r: PublicRecord, org: Organisation, now: datetime) -> str:
    waited = ""
    if r.status is RecordStatus.AWAITING_CLASSIFICATION:
        waited = f"  väntat {_waiting(max(0.0, (now - r.arrived_at).total_seconds()))}"
    caller = r.caller_number or "okänt nummer"
    if r.caller_name:
        caller = f"{r.caller_name} <{caller}>"
    return (
        f"{r.registration_number}  {exports.local_text(r.arrived_at, org.timezone)}"
        f"  {r.owner_id or '(okänd ägare: ' + r.mailbox + ')'}  {caller}"
        f"  {r.duration_s if r.duration_s is not None else '?'} s  {r.status.value}"
        f"{'  ' + r.classification.value if r.classification else ''}{waited}"
    )
