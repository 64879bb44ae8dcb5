"""Issue 15, item 12: a caller id with an unbalanced quote keeps its number; `switchboard web` on a
port in use says so in one line (no traceback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from voicemail.spool_format import parse_callerid

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "name", "number"),
    [
        ('"Örjan Öst" <0701234567>', "Örjan Öst", "0701234567"),
        ('"Ö <0701234567>', "Ö", "0701234567"),
        ("Örjan <0701234567", "Örjan", "0701234567"),
        ('Örjan" <0701234567>', "Örjan", "0701234567"),
    ],
)
def test_unbalanced_quote_in_caller_id_keeps_the_number(raw: str, name: str, number: str) -> None:
    """REC-01: the sender's number survives a damaged caller id."""
    caller = parse_callerid(raw)
    assert (caller.name, caller.number) == (name, number)


def test_web_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    """`switchboard web` on a taken port: exit 1 and one line naming the port, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
            "SWITCHBOARD_DEV_PASSWORD": "x" * 12,
        }
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "switchboard",
                "web",
                str(ROOT / "config" / "alvkarleby"),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=ROOT,
        )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert f"port {port}" in out.stderr and "already in use" in out.stderr
