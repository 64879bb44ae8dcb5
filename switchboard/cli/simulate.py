"""`switchboard simulate`: a day of calls on a virtual clock, and the service-level report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from routing.absence import PresenceBook
from routing.models import Organisation
from simulation.compare import VariantError, comparison, run_variants
from simulation.engine import PresenceFor, day_noon, simulate
from simulation.models import Variant
from simulation.page import render_html
from simulation.report import Report, build_report, to_json
from simulation.scenario import ScenarioError, load_scenario
from simulation.spool import SpoolWriter
from switchboard.cli.common import fail, load_or_report
from switchboard.config import Config
from switchboard.state import presence_at


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place."""

    def __init__(self, stream: TextIO, label: str = "simulating", width: int = 30) -> None:
        self.stream = stream
        self.label = label
        self.width = width
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        """Redraw for `done` of `total` calls."""
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {frac:4.0%} {done}/{total} calls")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def presence_source(config: Config) -> PresenceFor:
    """Presence of each simulated day from the organisation's calendars, read once per day."""
    days: dict[date, PresenceBook] = {}

    def presence_for(day: date) -> PresenceBook:
        if day not in days:
            days[day] = presence_at(config, day_noon(day, config.org.timezone))
        return days[day]

    return presence_for


def _load_folder(folder: str) -> tuple[Organisation, PresenceFor]:
    config = load_or_report(folder)
    if config is None:
        raise VariantError(f"organisation folder {folder} is not valid (problems above)")
    return config.org, presence_source(config)


async def _intake(config: Config, spool: str) -> int:
    """Take the spool's messages into the organisation's register, as the running service does."""
    from switchboard.storage import open_register
    from voicemail.intake import SpoolIntake

    register = await open_register(config)
    try:
        intake = SpoolIntake(register, spool, config.voicemail.context, settle_s=0.0)
        report = await intake.run_once(datetime.now(UTC))
    finally:
        await register.close()
    return len(report.taken)


def _simulate(args: argparse.Namespace) -> int:
    config = load_or_report(args.dir)
    if config is None:
        return 2
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    if args.seed is not None:
        if args.seed < 0:
            return fail(f"--seed {args.seed} must be a whole number >= 0")
        scenario = scenario.with_seed(args.seed)
    if args.spool is not None:
        scenario = scenario.with_spool(str(Path(args.spool).resolve()))
    if args.register and scenario.spool is None:
        return fail("--register needs a spool: give --spool PATH or the scenario key spool")
    variants = () if args.no_variants else scenario.variants
    if args.compare is not None:
        if not Path(args.compare).is_dir():
            return fail(f"--compare {args.compare!r} is not an organisation folder")
        name = f"organisation {Path(args.compare).name}"
        variants = (*variants, Variant(name, folder=str(Path(args.compare).resolve())))
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar(sys.stderr) if show else None
    writer = None
    if scenario.spool is not None:
        try:
            Path(scenario.spool).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return fail(f"spool {scenario.spool}: {exc.strerror or exc}")
        writer = SpoolWriter(scenario.spool, config.voicemail.context)
    presence_for = presence_source(config)
    try:
        result = simulate(scenario, config.org, presence_for, writer, bar)
        report = build_report(result, scenario)
        if args.register and scenario.spool is not None:
            report["voicemails_registered"] = asyncio.run(_intake(config, scenario.spool))
        if variants:
            if bar is not None:
                bar.close()
                bar = ProgressBar(sys.stderr, "comparing ") if show else None
                if bar is not None:
                    bar(0, len(variants))
            runs = run_variants(scenario, config.org, presence_for, variants, _load_folder)
            if bar is not None:
                bar(len(variants), len(variants))
            report["comparison"] = comparison(report, runs)
    except VariantError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"writing or taking in voicemail failed: {exc}")
    finally:
        if bar is not None:
            bar.close()
    return _write(args, report)


def _write(args: argparse.Namespace, report: Report) -> int:
    text = to_json(report)
    try:
        if args.json is not None:
            Path(args.json).write_text(text, encoding="utf-8")
        if args.out is not None:
            Path(args.out).write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write the report: {exc}")
    if args.json is None and args.out is None:
        sys.stdout.write(text)
        return 0
    summary = {
        "calls": report["calls"],
        "answered": report["answered"],
        "answered_share": report["answered_share"],
        "must_call_again": report["must_call_again_count"],
        "voicemails_created": report["voicemails_created"],
        "coverage_warnings": len(report["coverage_warnings"]),
        "json": args.json,
        "html": args.out,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add simulate."""
    p = sub.add_parser(
        "simulate", help="simulate a day of calls and report the answered share (HAL-03)"
    )
    p.add_argument("dir", help="organisation folder")
    p.add_argument("--scenario", required=True, help="scenario YAML")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--out", help="write the HTML report here")
    p.add_argument("--json", help="write the JSON report here (default: print it)")
    p.add_argument("--compare", metavar="DIR2", help="compare with another organisation folder")
    p.add_argument("--no-variants", action="store_true", help="skip the scenario's variants")
    p.add_argument("--spool", help="write voicemail into this app_voicemail spool folder")
    p.add_argument(
        "--register",
        action="store_true",
        help="take the spool's messages into the voicemail register afterwards",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.set_defaults(func=_simulate)
