"""`switchboard registry intake`: take messages from the app_voicemail spool into the register."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from routing.models import Organisation
from switchboard.cli.registry.shared import EXIT_OK, CommandError, now_arg, run_on_register
from voicemail import exports
from voicemail.intake import IntakeReport, SpoolIntake, printable
from voicemail.models import VoicemailSettings
from voicemail.service import Register


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
            report = await intake.run_once(now_arg(args))
            _print_intake(report, org)
            return EXIT_OK
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await intake.run(stop, interval_s=args.interval)
        return EXIT_OK

    return run_on_register(args, work)


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
