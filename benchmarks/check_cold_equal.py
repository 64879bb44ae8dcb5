"""Cold-load output equality: the calendar reader (calendar_sync.ics.read_ics) against a saved
copy of an earlier reader, over the cold-load benchmark's calendars in its three zone variants
(known, custom, distinct; benchmarks/bench_calendar_sync.py `cold_load`) and, with `--files`,
every .ics file under the folders given, over the windows around a DST change in March and in
October 2026, the benchmark's week, and the first, middle and last DTSTART of the file.

OLD is a saved copy of an earlier single-file `calendar_sync/ics.py` (read_ics taken from it), of
`calendar_sync/ics/vtimezones.py` (the current reader with that module's `compose`), or of the
whole `calendar_sync` folder (`cp -r calendar_sync /tmp/old/`: its own `calendar_sync.ics`). The old
reader runs in a fresh interpreter of its own: icalendar's zone cache is process-wide, and the
two readers must not share the zones they build.

Run: python benchmarks/check_cold_equal.py OLD [--calendars 10000] [--zones ...] [--shard K/N]
         [--files DIR ...]
Prints, per variant (and per folder), how many calendars gave identical blocks and skipped items;
exits 1 on any difference (the first few are printed).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_routing import DAY, TZ, write_calendars  # noqa: E402

from calendar_sync import ics  # noqa: E402
from calendar_sync.errors import CalendarError  # noqa: E402
from calendar_sync.snapshot import Window  # noqa: E402

Job = tuple[bytes, datetime, datetime, str]


def variant_bytes(folder: Path, n: int, variant: str) -> list[bytes]:
    """The benchmark's n calendars, rewritten as bench_calendar_sync.cold_load does."""
    write_calendars(folder, n)
    out = []
    for i, path in enumerate(sorted(folder.glob("u*.ics"))):
        text = path.read_text("utf-8")
        if variant != "known":
            text = text.replace("W. Europe Standard Time", "Customized Time Zone")
            if variant == "distinct":
                text = text.replace(
                    "DTSTART:16010101T030000", f"DTSTART:16010101T03{i % 60:02d}00", 1
                )
        out.append(text.encode("utf-8"))
    return out


def _reader(old: Path | None) -> Any:
    """read_ics: the current one, or the one of the saved copy `old`."""
    if old is None:
        return ics.read_ics
    if old.is_dir():  # a copy of the package, imported instead of this one (a fresh interpreter)
        for name in [
            m for m in sys.modules if m == "calendar_sync" or m.startswith("calendar_sync.")
        ]:
            del sys.modules[name]
        sys.path.insert(0, str(old.resolve().parent))
        module = importlib.import_module("calendar_sync.ics")
        assert Path(module.__file__ or "").is_relative_to(old.resolve()), module.__file__
        return module.read_ics
    spec = importlib.util.spec_from_file_location("reader_old", old)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reader_old"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    if not hasattr(module, "read_ics"):  # a copy of vtimezones.py
        ics.compose = module.compose  # type: ignore[attr-defined]  # what ics.load calls
        return ics.read_ics
    return module.read_ics


def read_all(old: Path | None, jobs: list[Job]) -> list[Any]:
    """Each job read: (blocks, skipped items as text) or the error as text."""
    read_ics = _reader(old)
    out: list[Any] = []
    for data, start, end, source in jobs:
        try:
            r = read_ics(data, start, end, TZ, source, 10_000, 1.5)
            # Skipped items as text: two module copies define two Skipped classes.
            out.append((r.blocks, [str(s) for s in r.skipped]))
        except CalendarError as exc:
            out.append(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the old module's own error classes
            out.append(f"{type(exc).__name__}: {exc}")
    return out


def compare(old: Path, jobs: list[Job], label: str, shown: list[int]) -> int:
    """Read the jobs with both readers (the old one in a fresh interpreter); differences."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        before = pool.apply(read_all, (old, jobs))
    after = read_all(None, jobs)
    bad = blocks = 0
    for job, a, b in zip(jobs, before, after, strict=True):
        if a == b:
            blocks += len(b[0]) if isinstance(b, tuple) else 0
            continue
        bad += 1
        shown[0] += 1
        if shown[0] <= 3:
            print(f"DIFFERENT: {label} {job[3]} {job[1]:%Y-%m-%d}\n  old {a}\n  new {b}")
    print(f"{label}: {len(jobs) - bad} of {len(jobs)} identical ({blocks} blocks)", flush=True)
    return bad


def generated(n: int) -> list[Job]:
    """The HAL-02 tests' generated calendars (every kind of time, rule, moved and cancelled
    occurrence, around both DST changes) in Outlook's custom zone, its onsets moved half an hour
    earlier in a third of them (events on the half hour fall on the edges) and its offsets
    negative in another third."""
    from tests.calendar_sync.test_occurrences import calendar

    jobs = []
    for seed in range(n):
        data, now = calendar(seed)
        if seed % 3 == 1:
            data = data.replace(b"T030000\r\nTZOFFSETFROM", b"T023000\r\nTZOFFSETFROM")
            data = data.replace(b"T020000\r\nTZOFFSETFROM", b"T013000\r\nTZOFFSETFROM")
        elif seed % 3 == 2:
            data = data.replace(b":+0200\r\n", b":-0300\r\n").replace(b":+0100\r\n", b":-0400\r\n")
        window = Window.around(now, TZ)
        jobs.append((data, window.start, window.end, f"g{seed}"))
    return jobs


def _own_windows(path: Path) -> list[Window]:
    """Windows around the file's first, middle and last DTSTART (from 1900 on)."""
    found = sorted(
        {m for m in re.findall(rb"\nDTSTART[^:\r\n]*:(\d{8})", path.read_bytes()) if m >= b"1900"}
    )
    picked = {found[0], found[len(found) // 2], found[-1]} if found else set()
    days = sorted(
        datetime.strptime(d.decode(), "%Y%m%d").replace(hour=10, tzinfo=UTC) for d in picked
    )
    return [Window.around(day, TZ) for day in days]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "old",
        type=Path,
        help="a saved copy of an earlier ics.py or vtimezones.py, or of calendar_sync/",
    )
    ap.add_argument("--calendars", type=int, default=10_000)
    ap.add_argument("--zones", default="known,custom,distinct")
    ap.add_argument("--shard", default="0/1", help="K/N: every N-th calendar from the K-th")
    ap.add_argument("--generated", type=int, default=0, help="generated calendars (HAL-02 tests')")
    ap.add_argument("--files", type=Path, nargs="*", default=[], help="folders of .ics files")
    args = ap.parse_args()
    k, n_shards = (int(x) for x in args.shard.split("/"))
    window = Window.around(DAY.replace(hour=10).astimezone(UTC), TZ)
    shown = [0]
    bad = 0
    for variant in [v for v in args.zones.split(",") if v]:
        with tempfile.TemporaryDirectory() as tmp:
            datas = variant_bytes(Path(tmp), args.calendars, variant)
        jobs = [
            (datas[i], window.start, window.end, f"u{i}") for i in range(k, len(datas), n_shards)
        ]
        bad += compare(args.old, jobs, variant, shown)
    if args.generated:
        jobs = generated(args.generated)
        bad += compare(args.old, jobs, f"generated ({args.generated} calendars)", shown)
    windows = [
        Window.around(datetime(2026, 3, 28, 10, tzinfo=UTC), TZ),
        Window.around(datetime(2026, 10, 24, 10, tzinfo=UTC), TZ),
        window,
    ]
    for folder in args.files:
        paths = sorted(folder.rglob("*.ics"))
        jobs = [(p.read_bytes(), w.start, w.end, p.name) for p in paths for w in windows]
        jobs += [(p.read_bytes(), w.start, w.end, p.name) for p in paths for w in _own_windows(p)]
        bad += compare(args.old, jobs, f"{folder} ({len(paths)} files)", shown)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
