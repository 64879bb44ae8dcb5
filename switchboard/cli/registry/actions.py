"""`switchboard registry classify|play|hide|dispose`: what registrars and owners do to records
(each act audited with who did it)."""

from __future__ import annotations

import argparse
import asyncio
import shutil

from routing.models import Organisation
from switchboard.cli.registry.shared import EXIT_OK, now_arg, run_on_register
from voicemail.models import Classification, VoicemailSettings
from voicemail.service import Register


def cmd_classify(args: argparse.Namespace) -> int:
    """ALV-16/17: classify a record (with a case reference when registered in a case)."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        record = await register.classify(
            args.ref,
            Classification(args.classification),
            args.actor,
            now_arg(args),
            summary=args.summary,
            case_reference=args.case,
        )
        print(f"{record.registration_number}: {record.classification}  {record.summary}")
        return EXIT_OK

    return run_on_register(args, work)


def cmd_play(args: argparse.Namespace) -> int:
    """ALV-14: play (hand out) a message's audio; every playback is audited with who."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        record, path = await register.play(args.ref, args.actor, now_arg(args))
        if args.out:
            await asyncio.to_thread(shutil.copyfile, path, args.out)
            print(f"{record.registration_number}: audio written to {args.out}")
        else:
            print(path)
        return EXIT_OK

    return run_on_register(args, work)


def cmd_hide(args: argparse.Namespace) -> int:
    """REC-04: the owner's delete, which only hides the message from the owner."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        record = await register.hide(args.ref, args.actor, now_arg(args))
        print(f"{record.registration_number}: hidden from {args.actor}; the record is kept")
        return EXIT_OK

    return run_on_register(args, work)


def cmd_dispose(args: argparse.Namespace) -> int:
    """REC-04: run the disposal rules (gallring); unclassified records are never touched."""

    async def work(register: Register, org: Organisation, settings: VoicemailSettings) -> int:
        if not settings.disposal_rules:
            print("no disposal rules configured; nothing disposed")
            return EXIT_OK
        done = await register.dispose(now_arg(args), args.actor, dry_run=args.dry_run)
        verb = "would dispose" if args.dry_run else "disposed"
        for d in done:
            print(f"{verb} {d.record.registration_number} under rule {d.rule}")
        print(f"{len(done)} record(s) {verb}; metadata kept")
        return EXIT_OK

    return run_on_register(args, work)
