"""`switchboard web DIR [--port]`: serve the web pages on 127.0.0.1 until `run` serves them;
`switchboard web-passwd`: print a scrypt hash for accounts.yaml."""

from __future__ import annotations

import argparse
import errno
import getpass
import sys
from pathlib import Path

from aiohttp import web

from switchboard.cli.common import load_or_report
from switchboard.web.auth import AccountsError, hash_password


def _web(args: argparse.Namespace) -> int:
    from switchboard.web.standalone import build_app

    config = load_or_report(args.dir)
    if config is None:
        return 2
    try:
        app = build_app(config, Path(config.org.data_dir))
    except AccountsError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    print(f"switchboard web: http://{args.host}:{args.port}/", file=sys.stderr)
    try:
        web.run_app(app, host=args.host, port=args.port, print=None)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"switchboard: error: port {args.port} on {args.host} is already in use;"
            " stop what uses it or choose another with --port",
            file=sys.stderr,
        )
        return 1
    return 0


def _passwd(args: argparse.Namespace) -> int:
    password = getpass.getpass("Lösenord: ") if sys.stdin.isatty() else sys.stdin.readline()
    password = password.rstrip("\n")
    if len(password) < 8:
        print("switchboard: error: the password must have at least 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `web` and `web-passwd`."""
    p = sub.add_parser("web", help="serve the web pages and API for an organisation folder")
    p.add_argument("dir")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=_web)
    p = sub.add_parser("web-passwd", help="print a scrypt hash of a password for accounts.yaml")
    p.set_defaults(func=_passwd)
