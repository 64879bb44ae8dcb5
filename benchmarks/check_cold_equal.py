"""Cold-load output equality: the calendar reader (calendar_sync.ics.read_ics) against a saved
copy of an earlier calendar_sync/ics.py, over the cold-load benchmark's calendars in its three
zone variants (known, custom, distinct; benchmarks/bench_calendar_sync.py `cold_load`).

Run: python benchmarks/check_cold_equal.py OLD_ICS_PY [--calendars 10000] [--zones ...]
         [--shard K/N]
Prints, per variant, how many calendars gave identical blocks and skipped items; exits 1 on any
difference (the first few are printed).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_routing import DAY, TZ, write_calendars  # noqa: E402

from calendar_sync import ics  # noqa: E402
from calendar_sync.snapshot import Window  # noqa: E402


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("old", type=Path, help="a saved copy of an earlier calendar_sync/ics.py")
    ap.add_argument("--calendars", type=int, default=10_000)
    ap.add_argument("--zones", default="known,custom,distinct")
    ap.add_argument("--shard", default="0/1", help="K/N: every N-th calendar from the K-th")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("ics_old", args.old)
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    sys.modules["ics_old"] = old  # dataclasses look their module up
    spec.loader.exec_module(old)
    k, n_shards = (int(x) for x in args.shard.split("/"))
    window = Window.around(DAY.replace(hour=10).astimezone(UTC), TZ)
    bad = 0
    for variant in args.zones.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            datas = variant_bytes(Path(tmp), args.calendars, variant)
        same = blocks = 0
        for i in range(k, len(datas), n_shards):
            data = datas[i]
            a = old.read_ics(data, window.start, window.end, TZ, f"u{i}", 10_000, 1.5)
            b = ics.read_ics(data, window.start, window.end, TZ, f"u{i}", 10_000, 1.5)
            # Skipped items compared as text: two module copies define two Skipped classes.
            if a.blocks == b.blocks and [str(s) for s in a.skipped] == [str(s) for s in b.skipped]:
                same += 1
                blocks += len(b.blocks)
            else:
                bad += 1
                if bad <= 3:
                    print(f"DIFFERENT: {variant} u{i}\n  old {a}\n  new {b}")
        print(
            f"{variant}: {same} of {len(range(k, len(datas), n_shards))} calendars identical"
            f" ({blocks} blocks)",
            flush=True,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
