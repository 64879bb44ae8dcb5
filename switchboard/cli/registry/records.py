"""`switchboard registry list|show|export`: reading the register."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

from routing.models import Organisation
from switchboard.cli.registry.shared import (
    EXIT_OK,
    EXIT_USAGE,
    now_arg,
    record_line,
    run_on_register,
)
from voicemail import exports, spreadsheets
from voicemail.models import RecordStatus, VoicemailSettings
from voicemail.register import RecordFilter
from voicemail.service import Register

FORMATS = ("json", "csv", "xml", "excel", "xlsx")  # excel: CSV for Swedish Excel


def cmd_list(args: argparse.Namespace) -> int:
    """List records (all, or the classification queue with waiting times)."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        now = now_arg(args)
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
            print(record_line(r, org, now))
        if not records:
            print("(no records)")
        return EXIT_OK

    return run_on_register(args, work)


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

    return run_on_register(args, work)


def record_copies(value: object) -> list[dict[str, str]]:
    """The `copies` list of `show`'s data, typed."""
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


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

    return run_on_register(args, work)
