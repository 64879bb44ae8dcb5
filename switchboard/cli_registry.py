"""`switchboard registry …`: intake and the registrar's work on the public-records register."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import aiosqlite

from routing.models import Organisation
from switchboard.config import Config, ConfigError, load_config
from switchboard.storage import open_register
from voicemail import exports, spreadsheets
from voicemail.errors import (
    InvalidClassification,
    NotPermitted,
    RecordDisposed,
    StorageError,
    UnknownRecord,
    VoicemailError,
)
from voicemail.intake import IntakeReport, SpoolIntake, printable
from voicemail.models import Classification, PublicRecord, RecordStatus, VoicemailSettings
from voicemail.register import RecordFilter
from voicemail.service import Register

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem (broken audit chain, storage error)
EXIT_USAGE = 2  # bad arguments, unknown ids, invalid configuration
EXIT_FORBIDDEN = 3  # ALV-14: the actor may not do this

FORMATS = ("json", "csv", "xml", "excel", "xlsx")  # excel: CSV for Swedish Excel


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


def _now(args: argparse.Namespace) -> datetime:
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


def _run(
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


def _line(r: PublicRecord, org: Organisation, now: datetime) -> str:
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


# --- commands ---------------------------------------------------------------------------------


def cmd_intake(args: argparse.Namespace) -> int:
    """Take in what is in the spool (`--once`), or keep watching it until interrupted."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        spool = args.spool or settings.spool or str(Path(org.data_dir) / "spool")
        if not await asyncio.to_thread(Path(spool).is_dir):
            raise CommandError(f"--spool {spool}: no such directory")
        intake = SpoolIntake(
            register,
            spool,
            settle_s=args.settle,
            remove_taken=args.empty_spool and not args.keep_spool,
        )
        if args.once:
            report = await intake.run_once(_now(args))
            _print_intake(report, org)
            return EXIT_OK
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await intake.run(stop, interval_s=args.interval)
        return EXIT_OK

    return _run(args, work)


def _print_intake(report: IntakeReport, org: Organisation) -> None:
    for r in report.taken:
        print(
            f"received {r.registration_number}  arrived "
            f"{exports.local_text(r.arrived_at, org.timezone)}  mailbox {r.mailbox}"
            f"  owner {r.owner_id or '(none)'}"
        )
    for mailbox in sorted(report.unknown_mailboxes):
        print(
            f"warning: spool folder {printable(mailbox)} maps to no user;"
            " messages registered without owner"
        )
    for label, why in report.waiting:
        print(f"waiting {label}: {why}")
    for q in report.quarantined:
        print(f"quarantined {q.label}: {q.reason} (moved to {q.moved_to})")
    print(
        f"{len(report.taken)} taken in, {report.already_registered} already registered, "
        f"{len(report.waiting)} waiting, {len(report.quarantined)} quarantined"
    )


def cmd_list(args: argparse.Namespace) -> int:
    """List records (all, or the classification queue with waiting times)."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        now = _now(args)
        if args.queue:
            items = await register.queue(now, args.limit)
            records = [i.record for i in items]
        else:
            status = RecordStatus(args.status) if args.status else None
            records = await register.records(
                RecordFilter(status=status, owner_id=args.owner, year=args.year, limit=args.limit)
            )
        if args.json:
            print(exports.to_json(records, org.timezone))
            return EXIT_OK
        for r in records:
            print(_line(r, org, now))
        if not records:
            print("(no records)")
        return EXIT_OK

    return _run(args, work)


def cmd_show(args: argparse.Namespace) -> int:
    """One record with its audit trail."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        record = await register.get(args.ref)
        events = await register.store.events(record.id)
        data = exports.record_json(record, org.timezone)
        # the same recording left in (or forwarded to) other mailboxes: one record each
        data["copies"] = [
            {"registration_number": c.registration_number, "mailbox_number": c.mailbox}
            for c in await register.copies(record)
        ]
        data["audit"] = [
            {
                "seq": e.seq,
                "at": exports.local_iso(e.at, org.timezone),
                "actor": e.actor,
                "action": e.action,
                "before": e.before,
                "after": e.after,
            }
            for e in events
        ]
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=2))
            return EXIT_OK
        for key, value in data.items():
            if key == "copies":
                shown = ", ".join(
                    f"{c['registration_number']} ({c['mailbox_number']})"
                    for c in record_copies(value)
                )
                print(f"copies: {shown}")
            elif key != "audit":
                print(f"{key}: {'' if value is None else value}")
        print("audit:")
        for e in events:
            print(f"  {e.seq:>6}  {exports.local_text(e.at, org.timezone)}  {e.actor}  {e.action}")
        return EXIT_OK

    return _run(args, work)


def record_copies(value: object) -> list[dict[str, str]]:
    """The `copies` list of `show`'s data, typed."""
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def cmd_classify(args: argparse.Namespace) -> int:
    """ALV-16/17: classify a record (with a case reference when registered in a case)."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        record = await register.classify(
            args.ref,
            Classification(args.classification),
            args.actor,
            _now(args),
            summary=args.summary,
            case_reference=args.case,
        )
        print(f"{record.registration_number}: {record.classification}  {record.summary}")
        return EXIT_OK

    return _run(args, work)


def cmd_play(args: argparse.Namespace) -> int:
    """ALV-14: play (hand out) a message's audio; every playback is audited with who."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        record, path = await register.play(args.ref, args.actor, _now(args))
        if args.out:
            await asyncio.to_thread(shutil.copyfile, path, args.out)
            print(f"{record.registration_number}: audio written to {args.out}")
        else:
            print(path)
        return EXIT_OK

    return _run(args, work)


def cmd_hide(args: argparse.Namespace) -> int:
    """REC-04: the owner's delete, which only hides the message from the owner."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        record = await register.hide(args.ref, args.actor, _now(args))
        print(f"{record.registration_number}: hidden from {args.actor}; the record is kept")
        return EXIT_OK

    return _run(args, work)


def cmd_verify(args: argparse.Namespace) -> int:
    """REC-03: the database's integrity, the audit hash chain, every record row against the
    chain, and every audio copy against its hash; each problem on its own line."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        report = await register.verify(check_audio=not args.no_audio)
        for problem in report.integrity:
            print(f"database DAMAGED: {problem}")
        chain = report.chain
        if chain.ok:
            print(f"audit chain intact: {chain.checked} events, head {chain.head[:16]}…")
        else:
            print(
                f"audit chain BROKEN at event {chain.broken_seq}: {chain.problem}"
                f" ({chain.checked} events before it are intact)"
            )
        print(f"records checked against the audit chain: {report.records.checked}")
        for problem in report.records.problems:
            print(f"record CHANGED: {problem}")
        if not args.no_audio:
            print(f"audio copies checked: {report.audio_checked}")
            for number in report.audio_mismatch:
                print(f"audio MISMATCH: {number} (missing or changed since intake)")
        return EXIT_OK if report.ok else EXIT_FAILED

    return _run(args, work)


def cmd_dispose(args: argparse.Namespace) -> int:
    """REC-04: run the disposal rules (gallring); unclassified records are never touched."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        if not settings.disposal_rules:
            print("no disposal rules configured; nothing disposed")
            return EXIT_OK
        done = await register.dispose(_now(args), args.actor, dry_run=args.dry_run)
        verb = "would dispose" if args.dry_run else "disposed"
        for d in done:
            print(f"{verb} {d.record.registration_number} under rule {d.rule}")
        print(f"{len(done)} record(s) {verb}; metadata kept")
        return EXIT_OK

    return _run(args, work)


def cmd_overdue(args: argparse.Namespace) -> int:
    """ALV-13: mailboxes with messages unheard for more than one working day, and whom to tell."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        overdue = await register.overdue(_now(args))
        if args.json:
            out = [
                {
                    "mailbox": o.owner_id,
                    "mailbox_number": o.mailbox,
                    "unheard": len(o.records),
                    "oldest_arrived_at": exports.local_iso(o.oldest_arrival, org.timezone),
                    "notify": list(o.notify),
                    "registration_numbers": [r.registration_number for r in o.records],
                }
                for o in overdue
            ]
            print(json.dumps(out, ensure_ascii=False, indent=2))
            return EXIT_OK
        for o in overdue:
            who = ", ".join(o.notify) or "(nobody configured: tell the telephony administrator)"
            print(
                f"{o.owner_id or '(no owner)'} [{o.mailbox}]: {len(o.records)} unheard since "
                f"{exports.local_text(o.oldest_arrival, org.timezone)}; tell {who}"
            )
        if not overdue:
            print("no overdue mailboxes")
        return EXIT_OK

    return _run(args, work)


def cmd_export(args: argparse.Namespace) -> int:
    """The register as JSON, CSV or ERMS-shaped XML (stdout, or --out FILE)."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        tz = org.timezone
        start = datetime.combine(args.from_day, time(), tz) if args.from_day else None
        end = datetime.combine(args.to_day + timedelta(days=1), time(), tz) if args.to_day else None
        records = await register.records(
            RecordFilter(year=args.year, arrived_from=start, arrived_before=end)
        )
        names = {u.id: u.name for u in org.directory.users}
        if args.format == "json":
            data = (exports.to_json(records, tz) + "\n").encode()
        elif args.format == "csv":
            data = exports.to_csv(records, tz).encode()
        elif args.format == "excel":
            data = spreadsheets.to_excel_csv(records, tz, names)
        elif args.format == "xlsx":
            data = await asyncio.to_thread(spreadsheets.to_xlsx, records, tz, names)
        else:
            data = exports.to_xml(records, tz, org.name, org.code).encode()
        if args.out:
            await asyncio.to_thread(Path(args.out).write_bytes, data)
        elif args.format == "xlsx":
            print("switchboard: an XLSX export needs --out FILE", file=sys.stderr)
            return EXIT_USAGE
        elif args.format == "excel":  # bytes: the BOM Swedish Excel needs
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data.decode("utf-8"))
        return EXIT_OK

    return _run(args, work)


# --- parser -----------------------------------------------------------------------------------


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
