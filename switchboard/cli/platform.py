"""`switchboard platform`: the simulated telephone platform as its own process (AMI over TCP).

Several `switchboard run` nodes reach it as they would reach Asterisk (`telephony: platform:
asterisk`, `ami: {host, port, secret_env}`), so only the leading node's connection drives it.
With `--dialplan extensions.conf` (e.g. the output of `switchboard asterisk-config`) it runs
that dialplan as Asterisk would: calls reach the leading node over FastAGI (the URL the node
writes into AstDB) and fall back to the AstDB rows when nobody answers; without it every call
enters AsyncAGI. It reads commands on stdin, one per line, and answers on stdout:

    call TO FROM [MESSAGE…]   -> `placed CHANNEL`, later `done CHANNEL {"steps": …}`
    sessions                  -> `sessions N` (AMI connections logged in or not)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from switchboard.telephony.dialplan import DialplanError
from switchboard.telephony.sim import SimCall, SimulatedAsterisk
from switchboard.telephony.sim.spool import write_spool_message

SECRET_ENV = "SWITCHBOARD_AMI_SECRET"


def register(subparsers: Any) -> None:
    """Add the `platform` command."""
    p = subparsers.add_parser("platform", help="run the simulated telephone platform (AMI)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="AMI port (0: any free port)")
    p.add_argument("--spool", required=True, help="where left messages are written")
    p.add_argument("--username", default="switchboard")
    p.add_argument("--dialplan", help="an extensions.conf to run (else every call is AsyncAGI)")
    p.add_argument("--voicemail", help="a voicemail.conf: the mailboxes that exist")
    p.set_defaults(func=cmd_platform)


def cmd_platform(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT or end of input; the AMI secret from $SWITCHBOARD_AMI_SECRET."""
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        print(f"switchboard: set {SECRET_ENV} (the AMI secret)", file=sys.stderr)
        return 2
    try:
        dialplan = Path(args.dialplan).read_text(encoding="utf-8") if args.dialplan else None
        voicemail = Path(args.voicemail).read_text(encoding="utf-8") if args.voicemail else None
    except OSError as exc:
        print(f"switchboard: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    mailboxes = None
    if voicemail is not None:
        mailboxes = {
            line.split("=>", 1)[0].strip()
            for line in voicemail.splitlines()
            if "=>" in line and not line.lstrip().startswith(";")
        }
    return asyncio.run(
        serve(
            args.host,
            args.port,
            args.username,
            secret,
            Path(args.spool),
            dialplan=dialplan,
            mailboxes=mailboxes,
        )
    )


async def serve(
    host: str,
    port: int,
    username: str,
    secret: str,
    spool: Path,
    *,
    dialplan: str | None = None,
    mailboxes: set[str] | None = None,
) -> int:
    """Run the platform; print `listening PORT`, then answer commands from stdin."""

    async def leave(call: SimCall, mailbox: str, context: str) -> None:
        txt = await write_spool_message(spool, context, mailbox, call, sim.clock())
        call.variables["VM_TXT"] = str(txt)
        call.variables["VM_AUDIO"] = str(txt.with_suffix(".wav"))

    sim = SimulatedAsterisk(
        username=username, secret=secret, host=host, port=port, on_voicemail=leave
    )
    if dialplan is not None:
        try:
            sim.load_dialplan(dialplan, mailboxes)
        except DialplanError as exc:
            print(f"switchboard: --dialplan: {exc}", file=sys.stderr)
            return 2
    await sim.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    jobs: set[asyncio.Task[None]] = set()
    print(f"listening {sim.port}", flush=True)

    async def follow(call: SimCall) -> None:
        with contextlib.suppress(TimeoutError):
            await call.wait(120)
        steps = [s.as_json() for s in call.steps]
        print(f"done {call.channel} {json.dumps({'steps': steps})}", flush=True)

    async def commands() -> None:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().strip():
            words = line.split()
            if words[0] == "call" and len(words) >= 3:
                text = " ".join(words[3:]) or None
                call = await sim.place_call(
                    words[1], words[2], answer=text is None, leave_message=text
                )
                print(f"placed {call.channel}", flush=True)
                job = asyncio.create_task(follow(call))
                jobs.add(job)
                job.add_done_callback(jobs.discard)
            elif words[0] == "sessions":
                print(f"sessions {sim.sessions}", flush=True)
        stop.set()

    reading = asyncio.create_task(commands())
    try:
        await stop.wait()
    finally:
        for task in (reading, *jobs):
            task.cancel()
        await asyncio.gather(reading, *jobs, return_exceptions=True)
        await sim.close()
    return 0
