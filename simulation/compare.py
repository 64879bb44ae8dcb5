"""Compare mode: the same callers against other configurations, and the change in answered share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from routing.models import Directory, Group, Organisation
from simulation.engine import PresenceFor, simulate
from simulation.models import RunResult, Scenario, Variant
from simulation.report import Report, build_report

# folder → (organisation, presence per day); raises ValueError with a one-line message
LoadFolder = Callable[[str], tuple[Organisation, PresenceFor]]


class VariantError(ValueError):
    """A variant that cannot be applied (e.g. a telephone-hours change for an unknown group)."""


@dataclass(frozen=True)
class VariantRun:
    """One variant's run."""

    variant: Variant
    result: RunResult
    scenario: Scenario


def apply_variant(org: Organisation, variant: Variant) -> Organisation:
    """The organisation with the variant's changes to mailboxes, mobiles and telephone hours."""
    d = org.directory
    users = d.users
    policy = org.policy
    if variant.voicemail is not None:
        users = tuple(replace(u, voicemail=variant.voicemail) for u in users)
        policy = replace(policy, voicemail_extension_users=variant.voicemail)
    if variant.mobile_follows_calendar is not None:
        users = tuple(
            replace(u, mobile_follows_calendar=variant.mobile_follows_calendar) for u in users
        )
    groups: tuple[Group, ...] = d.groups
    if variant.telephone_hours:
        known = {g.id for g in groups}
        unknown = sorted(set(variant.telephone_hours) - known)
        if unknown:
            raise VariantError(
                f"variant {variant.name!r}: no group {unknown[0]!r} in {org.name} "
                f"(groups: {', '.join(sorted(known)) or 'none'})"
            )
        groups = tuple(
            replace(g, telephone_hours=variant.telephone_hours[g.id])
            if g.id in variant.telephone_hours
            else g
            for g in groups
        )
    directory = Directory.build(users, groups, d.shared_phones, d.switchboard, d.plan)
    return replace(org, directory=directory, policy=policy)


def run_variants(
    scenario: Scenario,
    org: Organisation,
    presence_for: PresenceFor,
    variants: tuple[Variant, ...],
    load_folder: LoadFolder | None = None,
) -> list[VariantRun]:
    """Run every variant with the base scenario's seed (the same callers), without a spool."""
    runs: list[VariantRun] = []
    quiet = scenario.with_spool(None)
    for v in variants:
        base_org, base_presence = org, presence_for
        if v.folder is not None:
            if load_folder is None:
                raise VariantError(
                    f"variant {v.name!r}: another organisation folder needs a loader"
                )
            base_org, base_presence = load_folder(v.folder)
        s = (
            quiet
            if v.answer_probability is None
            else quiet.with_answer_probability(v.answer_probability)
        )
        result = simulate(s, apply_variant(base_org, v), base_presence)
        runs.append(VariantRun(v, result, s))
    return runs


def comparison(base: Mapping[str, object], runs: list[VariantRun]) -> list[Report]:
    """One summary per variant, with the difference in answered share against the base."""
    base_share = base["answered_share"]
    out: list[Report] = []
    for run in runs:
        r = build_report(run.result, run.scenario)
        share = r["answered_share"]
        delta = (
            round(share - base_share, 4)
            if isinstance(share, float) and isinstance(base_share, float)
            else None
        )
        out.append(
            {
                "name": run.variant.name,
                "changes": run.variant.changes(),
                "calls": r["calls"],
                "answered": r["answered"],
                "answered_share": share,
                "answered_share_delta": delta,
                "must_call_again_count": r["must_call_again_count"],
                "outcomes": r["outcomes"],
                "by_kind": r["by_kind"],
                "voicemails_created": r["voicemails_created"],
                "coverage_warnings": len(r["coverage_warnings"]),
            }
        )
    return out
