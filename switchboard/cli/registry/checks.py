"""`switchboard registry verify|overdue`: the register's integrity, and mailboxes left unheard."""

from __future__ import annotations

import argparse
import json

from routing.models import Organisation
from switchboard.cli.registry.shared import EXIT_FAILED, EXIT_OK, now_arg, run_on_register
from voicemail import exports
from voicemail.models import VoicemailSettings
from voicemail.service import Register


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

    return run_on_register(args, work)


def cmd_overdue(args: argparse.Namespace) -> int:
    """ALV-13: mailboxes with messages unheard for more than one working day, and whom to tell."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        overdue = await register.overdue(now_arg(args))
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

    return run_on_register(args, work)
