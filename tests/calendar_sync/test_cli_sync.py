"""`switchboard sync`: argument errors and a missing folder exit 2 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.cli import main


def test_sync_without_dir_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing DIR is a usage error: exit 2, one line on stderr."""
    with pytest.raises(SystemExit) as info:
        main(["sync"])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_sync_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that is not an organisation exits 2 with the problem, no traceback."""
    assert main(["sync", str(tmp_path / "nope"), "--once"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
