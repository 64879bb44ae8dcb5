"""Latency histograms of the call path, in Prometheus' text format.

Two numbers make up what a caller waits for the service: the decision (AGI start → the first
command is on its way) and each AGI command's round trip (sent → Asterisk's answer, which for
AsyncAGI includes res_agi's ~100 ms poll for queued commands and for a Playback or Dial the
application's own run time; see docs/asterisk.md).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Seconds: fine below a millisecond (in-process decisions), coarse up to a minute (Dial).
BUCKETS: tuple[float, ...] = (
    0.0001,
    0.0005,
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


@dataclass
class Histogram:
    """A cumulative histogram (Prometheus semantics: `le` buckets, `_sum`, `_count`)."""

    name: str
    help: str
    buckets: tuple[float, ...] = BUCKETS
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; + overflow
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.count += 1

    def lines(self, labels: str = "") -> list[str]:
        """The `_bucket`, `_sum` and `_count` samples (no HELP/TYPE), `labels` like `kind="x"`."""
        sep = "," if labels else ""
        out: list[str] = []
        running = 0
        for bound, n in zip(self.buckets, self.counts, strict=False):
            running += n
            out.append(f'{self.name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        out.append(f'{self.name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        tail = f"{{{labels}}}" if labels else ""
        out.append(f"{self.name}_sum{tail} {self.total:.6f}")
        out.append(f"{self.name}_count{tail} {self.count}")
        return out


class CallLatency:
    """The call path's histograms: decision latency, and AGI round trip per application."""

    def __init__(self) -> None:
        self.decision = Histogram(
            "switchboard_call_decision_seconds",
            "From the call reaching the service (AGI start) to its first AGI command being sent.",
        )
        self.first_command = Histogram(
            "switchboard_call_first_command_seconds",
            "From the call reaching the service to the answer of its first AGI command.",
        )
        self.round_trip: dict[str, Histogram] = {}

    def agi(self, command: str, seconds: float) -> None:
        """One AGI command's round trip, labelled by its verb (EXEC by its application)."""
        words = command.split(" ", 2)
        kind = words[0].upper()
        if kind == "EXEC" and len(words) > 1:
            kind = words[1]
        elif kind in ("GET", "SET") and len(words) > 1:
            kind = f"{kind} {words[1].upper()}"
        hist = self.round_trip.get(kind)
        if hist is None:
            if len(self.round_trip) >= 32:  # a bounded label set whatever commands are sent
                kind = "other"
                hist = self.round_trip.get(kind)
            if hist is None:
                hist = self.round_trip[kind] = Histogram(
                    "switchboard_agi_round_trip_seconds",
                    "From an AGI command being sent to Asterisk's answer, by command.",
                )
        hist.observe(seconds)

    def render(self) -> str:
        """Every histogram as Prometheus text (HELP and TYPE once per family)."""
        out: list[str] = []
        for hist in (self.decision, self.first_command):
            out += [f"# HELP {hist.name} {hist.help}", f"# TYPE {hist.name} histogram"]
            out += hist.lines()
        name = "switchboard_agi_round_trip_seconds"
        out += [
            f"# HELP {name} From an AGI command being sent to Asterisk's answer, by command.",
            f"# TYPE {name} histogram",
        ]
        for kind in sorted(self.round_trip):
            label = kind.replace("\\", "\\\\").replace('"', '\\"')
            out += self.round_trip[kind].lines(f'command="{label}"')
        return "\n".join(out) + "\n"
