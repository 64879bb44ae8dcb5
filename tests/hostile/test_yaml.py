"""Hostile YAML (issue 15, item 1): every input gets one line per problem (`FILE:LINE: path:
what`), never a traceback; a reload (SIGHUP) keeps the running configuration whatever the
error; a personnummer (HAL-10) is never echoed; and a fuzzer of the loader with bounded time.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.yamlfile import MAX_BYTES, parse_yaml
from switchboard import service_runner
from switchboard.cli import main
from switchboard.config import load_config
from switchboard.service_runner import Server

ROOT = Path(__file__).resolve().parents[2]
ALV = ROOT / "config" / "alvkarleby"
PERSONNUMMER = "19700110-1234"  # Anna Andersson's, in the sample directory
ANNA_PID_LINE = f"  personal_id: {PERSONNUMMER}\n"
# The 272-byte "billion laughs": eight levels of nine aliases, 43 million nodes once expanded.
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)
)
LAUGHS += "\n"


def copy_org(tmp_path: Path) -> Path:
    """A private copy of the Älvkarleby sample."""
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    return folder


def _edit(name: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_text(change(path.read_text(encoding="utf-8")), "utf-8", errors="surrogatepass")

    return apply


def _replace(name: str, text: str) -> Callable[[Path], None]:
    return _edit(name, lambda _old: text)


def _folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


# One input per entry: (how the folder is broken, a phrase the one-line problem must hold).
HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "form_feed": (
        _edit("directory.yaml", lambda t: t.replace("users:\n", "users:\n\f\n")),
        "form feed",
    ),
    "alias_loop": (_edit("directory.yaml", lambda t: t + "extra: &r [*r]\n"), "(a loop)"),
    "nesting_5000_deep": (
        _replace("directory.yaml", "users: " + "[" * 5000 + "]" * 5000 + "\n"),
        "nested deeper",
    ),
    "billion_laughs_272_bytes": (_replace("directory.yaml", LAUGHS), "aliases (*name) repeat"),
    "personal_id_slip_as_key": (
        _edit(
            "directory.yaml",
            lambda t: t.replace(ANNA_PID_LINE, f"  personal_id:\n  {PERSONNUMMER}:\n"),
        ),
        "not a key name",
    ),
    "personal_id_slip_as_line": (
        _edit(
            "directory.yaml",
            lambda t: t.replace(ANNA_PID_LINE, f"  personal_id:\n  {PERSONNUMMER}\n"),
        ),
        "YAML syntax error",
    ),
    "lone_surrogate_escape": (
        _edit(
            "directory.yaml", lambda t: t.replace("name: Anna Andersson", 'name: "Anna \\ud800"')
        ),
        "lone surrogate",
    ),
    "nul_escape": (
        _edit("directory.yaml", lambda t: t.replace("name: Anna Andersson", 'name: "Anna \\0"')),
        "NUL",
    ),
    "date_that_does_not_exist": (
        _edit("organisation.yaml", lambda t: t.replace('"2026-12-24",', "2026-02-30,")),
        "date or time",
    ),
    "integer_of_5000_digits": (
        _edit("organisation.yaml", lambda t: t + "data_dir: " + "9" * 5000 + "\n"),
        "whole number",
    ),
    "python_object_tag": (
        _edit(
            "organisation.yaml",
            lambda t: t + "data_dir: !!python/object/apply:os.system ['true']\n",
        ),
        "constructor",
    ),
    "unhashable_key": (_edit("organisation.yaml", lambda t: t + "? [a, b]\n: c\n"), "unhashable"),
    "latin1_bytes": (
        lambda f: (f / "directory.yaml").write_bytes("users: [{id: Öst}]\n".encode("latin-1")),
        "not UTF-8",
    ),
    "larger_than_the_limit": (
        _replace("directory.yaml", "# " + "x" * (MAX_BYTES + 10) + "\n"),
        "larger than",
    ),
    "a_folder_instead_of_a_file": (
        lambda f: _folder_instead(f / "directory.yaml"),
        "not a regular file",
    ),
}
# Inputs that took minutes or blocked for ever before the fix: only ever run in a child process.
SLOW_BEFORE_THE_FIX = {"billion_laughs_272_bytes"}


def _check_lines(err: str) -> None:
    lines = [line for line in err.splitlines() if line]
    assert lines, "no problem reported"
    assert "Traceback" not in err and 'File "' not in err, err
    assert PERSONNUMMER not in err and PERSONNUMMER.replace("-", "") not in err
    for line in lines:  # FILE:LINE: path: message
        file, number, rest = line.split(":", 2)
        assert file.endswith(".yaml") and number.isdigit() and rest.startswith(" "), line


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_check_config_answers_hostile_yaml_in_one_line_each(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HAL-10 and issue 15.1: exit 2 and `FILE:LINE: path: problem` lines for each input;
    never a traceback, never the personnummer."""
    folder = copy_org(tmp_path)
    breaks, phrase = HOSTILE[name]
    breaks(folder)
    if name in SLOW_BEFORE_THE_FIX:
        proc = subprocess.run(
            [sys.executable, "-m", "switchboard", "check-config", str(folder)],
            capture_output=True,
            text=True,
            timeout=60,  # 46 s and 850 MB before the fix
            cwd=ROOT,
        )
        code, err = proc.returncode, proc.stderr
    else:
        code = main(["check-config", str(folder)])
        err = capsys.readouterr().err
    assert code == 2, err
    _check_lines(err)
    assert phrase in err, err


def test_a_fifo_as_directory_yaml_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A named pipe where directory.yaml should be: refused at once (it used to block the
    reader for ever, waiting for a writer)."""
    folder = copy_org(tmp_path)
    (folder / "directory.yaml").unlink()
    os.mkfifo(folder / "directory.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "switchboard", "check-config", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    _check_lines(proc.stderr)
    assert "not a regular file" in proc.stderr


def test_personal_id_slip_is_named_by_its_line_without_the_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HAL-10: the slipped number's line is given (so it can be found) but not the number."""
    folder = copy_org(tmp_path)
    HOSTILE["personal_id_slip_as_key"][0](folder)
    line = (folder / "directory.yaml").read_text("utf-8").splitlines().index(
        f"  {PERSONNUMMER}:"
    ) + 1
    assert main(["check-config", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"directory.yaml:{line}: users[0].(key): not a key name" in err


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """The service's reload machinery over a valid folder, with an empty app per config."""
    folder = copy_org(tmp_path)
    srv = Server(folder, "127.0.0.1", 0, app_factory=lambda _config: web.Application())
    await srv.start(load_config(folder))
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.mark.parametrize("name", sorted(set(HOSTILE) - SLOW_BEFORE_THE_FIX))
async def test_reload_keeps_the_running_configuration(
    name: str, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """HAL-10 and issue 15.1: SIGHUP with a hostile folder is refused and logged; the running
    configuration keeps serving and the log never holds the personnummer."""
    running, config = server.runner, server.config
    HOSTILE[name][0](Path(server.folder))
    with caplog.at_level(logging.INFO):
        assert await server.reload() is False
    assert server.runner is running and server.config is config
    refused = [r for r in caplog.records if "reload refused" in r.getMessage()]
    assert len(refused) == 1
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert PERSONNUMMER not in logged and "Traceback" not in logged


async def test_reload_keeps_running_on_any_error_and_logs_no_error_text(
    server: Server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15.1: whatever the loader raises (here an error quoting a personnummer), the
    reload is refused with the error's type only, and the service goes on."""

    def broken(_folder: object, _previous: object = None) -> None:
        raise RuntimeError(f"line 17: personal_id: {PERSONNUMMER}")

    monkeypatch.setattr(service_runner, "load_config", broken)
    running = server.runner
    with caplog.at_level(logging.INFO):
        assert await server.reload() is False
    assert server.runner is running
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "RuntimeError" in logged and PERSONNUMMER not in logged


def test_check_config_on_a_loader_failure_prints_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check-config` never prints a traceback, nor an unexpected error's text."""
    import switchboard.cli.common as cli_common

    def broken(_folder: object) -> None:
        raise RecursionError(f"personal_id: {PERSONNUMMER}")

    monkeypatch.setattr(cli_common, "load_config", broken)
    assert main(["check-config", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RecursionError" in err and PERSONNUMMER not in err


# ---------------------------------------------------------------- fuzzing the loader

YAML_PIECES = st.sampled_from(
    [
        "a: ", "- ", "[", "]", "{", "}", ", ", ": ", "\n", "  ", "&x ", "*x", "&y ", "*y",
        "<<: *x\n", "? ", "!!str ", "!!int ", "!!binary ", "!!timestamp ", "'", '"', "\\u", "\\0",
        "#", "|\n", ">-\n", "---\n", "...\n", "%YAML 1.1\n", "\t", "\f", "\x00", "\ud800",
        "2026-02-30", "9" * 40, "0x1F", "1:2:3", "~", "yes", "personal_id: ", "19700110-1234",
    ]
)  # fmt: skip


@settings(
    max_examples=150,
    deadline=2000,  # ms per example: the bounds above keep every input linear
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.lists(st.one_of(YAML_PIECES, st.text(max_size=8)), max_size=60).map("".join))
def test_fuzz_the_yaml_loader_never_raises(text: str) -> None:
    """Any text: a document or problems with a line, never an exception, never a value."""
    doc = parse_yaml(text, "fuzz.yaml")
    for path, line, message in doc.problems:
        assert isinstance(path, str) and line >= 1 and "\n" not in message
        assert PERSONNUMMER not in message
    if not doc.problems and doc.data is not None:
        repr(doc.data)  # a plain, finite value (no loop)


@settings(max_examples=60, deadline=2000, derandomize=True)
@given(
    depth=st.integers(min_value=1, max_value=3000),
    aliases=st.integers(min_value=0, max_value=12),
    width=st.integers(min_value=1, max_value=12),
)
def test_fuzz_nesting_and_aliases_are_bounded(depth: int, aliases: int, width: int) -> None:
    """Deep brackets and nested aliases of any size are parsed or refused within the bounds."""
    nested = "[" * depth + "]" * depth
    text = f"n: {nested}\na0: &a0 [x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]\n" for i in range(1, aliases + 1)
    )
    doc = parse_yaml(text, "fuzz.yaml")
    if depth > 64 or width**aliases > 1_000_000:
        assert doc.problems and doc.problems[0][2].startswith("refused")
    for _path, _line, message in doc.problems:
        assert message.startswith("refused")
