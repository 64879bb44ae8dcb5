"""Scenario YAML loaded into a typed `Scenario`; problems read `FILE:LINE: path: what is wrong`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from routing.models import Hours, hours_of
from simulation.models import CALL_KINDS, Scenario, SwitchboardModel, Variant
from storage.yamlcheck import Checker
from storage.yamlfile import YamlDocument, load_yaml

_KEYS = {
    "name",
    "date",
    "dates",
    "seed",
    "answer_probability",
    "answer_probability_in_meeting",
    "ring_timeout_s",
    "talk_time_s",
    "voicemail_leave_probability",
    "voicemail_message_s",
    "switchboard",
    "contact_centre_groups",
    "spool",
    "arrivals",
    "variants",
}
_VARIANT_KEYS = {
    "name",
    "voicemail",
    "mobile_follows_calendar",
    "telephone_hours",
    "answer_probability",
    "folder",
}
MAX_DAYS = 31


class ScenarioError(Exception):
    """A scenario file with problems; `problems` are lines `FILE:LINE: path: message`."""

    error_id = "invalid-scenario"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _p(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _dates(c: Checker, raw: dict[str, Any]) -> tuple[date, ...]:
    if "date" in raw and "dates" in raw:
        c.err("dates", "give either date or dates, not both")
    if "date" in raw:
        d = c.day(raw["date"], "date")
        return (d,) if d else ()
    value = raw.get("dates")
    if value is None:
        c.err("date", "is required: the day to simulate, like 2026-11-24")
        return ()
    if isinstance(value, list):
        days = [c.day(v, f"dates[{i}]") for i, v in enumerate(value)]
        out = tuple(sorted({d for d in days if d is not None}))
    else:
        m = c.mapping(value, "dates", {"from", "to"})
        lo, hi = c.day(m.get("from"), "dates.from"), c.day(m.get("to"), "dates.to")
        if lo is None or hi is None:
            return ()
        if hi < lo:
            c.err("dates.to", "must not be before dates.from")
            return ()
        out = tuple(lo + timedelta(days=i) for i in range((hi - lo).days + 1))
    if not out:
        c.err("dates", "must list at least one date")
    if len(out) > MAX_DAYS:
        c.err("dates", f"at most {MAX_DAYS} days in one scenario")
        out = out[:MAX_DAYS]
    return out


def _arrivals(c: Checker, value: Any) -> dict[str, dict[int, float]]:
    if value is None:
        c.err("arrivals", "is required: calls per hour by kind of number")
        return {}
    m = c.mapping(value, "arrivals", set(CALL_KINDS))
    out: dict[str, dict[int, float]] = {}
    for kind in CALL_KINDS:
        if kind not in m:
            continue
        per_hour = c.mapping(m[kind], f"arrivals.{kind}", None)
        rates: dict[int, float] = {}
        for key, rate in per_hour.items():
            path = f"arrivals.{kind}.{key}"
            hour = int(key) if key.isdigit() else -1
            if not 0 <= hour <= 23:
                c.err(path, 'hour must be "00" to "23"')
                continue
            if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
                c.err(path, "calls per hour must be a number >= 0")
                continue
            if hour in rates:
                c.err(path, "hour given twice")
            rates[hour] = float(rate)
        out[kind] = dict(sorted(rates.items()))
    return out


def _variants(c: Checker, value: Any, base_dir: Path) -> tuple[Variant, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        c.err("variants", "must be a list of variants")
        return ()
    out: list[Variant] = []
    names: set[str] = set()
    for i, item in enumerate(value):
        path = f"variants[{i}]"
        m = c.mapping(item, path, _VARIANT_KEYS)
        name = m.get("name")
        if not isinstance(name, str) or not name.strip():
            c.err(_p(path, "name"), "is required: a short name for the variant")
            name = f"variant {i + 1}"
        if name in names:
            c.err(_p(path, "name"), "name used twice")
        names.add(name)
        hours: dict[str, Hours | None] = {}
        if "telephone_hours" in m:
            per_group = c.mapping(m["telephone_hours"], _p(path, "telephone_hours"), None)
            for group_id, spec in per_group.items():
                gpath = f"{path}.telephone_hours.{group_id}"
                hours[group_id] = (
                    None if spec in (None, "none") else hours_of(c.weekly_hours(spec, gpath))
                )
        folder = m.get("folder")
        if folder is not None and not isinstance(folder, str):
            c.err(_p(path, "folder"), "must be a folder path")
            folder = None
        p = m.get("answer_probability")
        if p is not None:
            p = c.number(m, "answer_probability", path, 0.8, 0.0, 1.0)
        variant = Variant(
            name=name,
            voicemail=c.on_off(m, "voicemail", path),
            mobile_follows_calendar=c.on_off(m, "mobile_follows_calendar", path),
            telephone_hours=hours,
            answer_probability=p,
            folder=str((base_dir / folder).resolve()) if folder else None,
        )
        if not variant.changes():
            c.err(
                path, "changes nothing: give voicemail, mobile_follows_calendar, telephone_hours…"
            )
        out.append(variant)
    return tuple(out)


def parse_scenario(doc: YamlDocument, base_dir: Path) -> Scenario:
    """A Scenario from a loaded YAML document; raise ScenarioError listing every problem."""
    c = Checker(doc)
    for path, line, message in doc.problems:
        c.problems.append(f"{doc.file}:{line}: {path or '(file)'}: {message}")
    if c.problems:
        raise ScenarioError(c.problems)
    if doc.data is None:
        raise ScenarioError([f"{doc.file}:1: (file): empty scenario"])
    raw = c.mapping(doc.data, "", _KEYS)
    dates = _dates(c, raw)
    seed = raw.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        c.err("seed", "must be a whole number >= 0")
        seed = 1
    sb = c.mapping(raw.get("switchboard", {}), "switchboard", {"agents", "answer_probability"})
    agents = c.number(sb, "agents", "switchboard", 2, 0, 1000)
    if agents != int(agents):
        c.err("switchboard.agents", "must be a whole number")
    groups = raw.get("contact_centre_groups")
    if groups is not None and (
        not isinstance(groups, list) or not all(isinstance(g, str) for g in groups)
    ):
        c.err("contact_centre_groups", "must be a list of group ids")
        groups = None
    spool = raw.get("spool")
    if spool is not None and not isinstance(spool, str):
        c.err("spool", "must be a folder path")
        spool = None
    name = raw.get("name", doc.file.rsplit("/", 1)[-1].removesuffix(".yaml"))
    scenario = Scenario(
        dates=dates,
        arrivals=_arrivals(c, raw.get("arrivals")),
        seed=seed,
        name=str(name),
        answer_probability=c.number(raw, "answer_probability", "", 0.8, 0.0, 1.0),
        answer_probability_in_meeting=c.number(
            raw, "answer_probability_in_meeting", "", 0.3, 0.0, 1.0
        ),
        ring_timeout_s=c.number(raw, "ring_timeout_s", "", 25.0, 1.0, 600.0),
        talk_time_s=c.number(raw, "talk_time_s", "", 180.0, 1.0, 36000.0),
        voicemail_leave_probability=c.number(raw, "voicemail_leave_probability", "", 1.0, 0.0, 1.0),
        voicemail_message_s=c.number(raw, "voicemail_message_s", "", 20.0, 1.0, 600.0),
        switchboard=SwitchboardModel(
            int(agents), c.number(sb, "answer_probability", "switchboard", 0.95, 0.0, 1.0)
        ),
        contact_centre_groups=tuple(groups) if groups is not None else None,
        spool=str((base_dir / spool).resolve()) if spool else None,
        variants=_variants(c, raw.get("variants"), base_dir),
    )
    if c.problems:
        raise ScenarioError(c.problems)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file; raise ScenarioError listing every problem."""
    p = Path(path)
    return parse_scenario(load_yaml(p, str(path)), p.resolve().parent)
