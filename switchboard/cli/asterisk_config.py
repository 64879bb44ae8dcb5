"""`switchboard asterisk-config DIR OUTDIR`: Asterisk's extensions.conf, voicemail.conf and
pjsip.conf generated from the organisation folder (see docs/asterisk.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from switchboard.cli.common import load_or_report


def register(subparsers: Any) -> None:
    """Add the `asterisk-config` command."""
    p = subparsers.add_parser(
        "asterisk-config", help="write extensions.conf, voicemail.conf and pjsip.conf"
    )
    p.add_argument("dir", help="the organisation folder")
    p.add_argument("out", help="the folder to write into (e.g. /etc/asterisk)")
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and name every file that differs from what would be written",
    )
    p.add_argument(
        "--sip-secrets",
        metavar="FILE",
        help="`<extension> = <password>` lines for the SIP endpoints (kept out of git)",
    )
    p.set_defaults(func=cmd_asterisk_config)


def cmd_asterisk_config(args: argparse.Namespace) -> int:
    """Generate (or --check) the files; 2 on a bad folder or secrets file."""
    from switchboard.telephony.asterisk_config import generate, parse_secrets

    config = load_or_report(args.dir)
    if config is None:
        return 2
    secrets: dict[str, str] = {}
    if args.sip_secrets:
        try:
            secrets = parse_secrets(Path(args.sip_secrets).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"switchboard: --sip-secrets {args.sip_secrets}: {exc}", file=sys.stderr)
            return 2
    generated = generate(config.org, config.telephony, secrets)
    out = Path(args.out)
    if args.check:
        stale = []
        for name, text in generated.files.items():
            path = out / name
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current != text:
                stale.append(name)
                print(f"{path}: differs from the organisation folder", file=sys.stderr)
        return 1 if stale else 0
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in generated.files.items():
            (out / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"switchboard: cannot write into {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for warning in generated.warnings:
        print(f"switchboard: warning: {warning}", file=sys.stderr)
    print(f"wrote {', '.join(sorted(generated.files))} into {out}")
    return 0
