"""Dial strings: an E.164 number as the platform dials it (`telephony.internal_dial`,
`external_dial` and `outbound_format`).

Numbers inside the organisation's own series are dialled on the internal template with their
local digits (`PJSIP/83013`); every other number goes to the trunk in the operator's format:
`national` (Swedish numbers `026…`, foreign ones with the international prefix `0044…`, what the
shipped dialplan's `trunk-out` and `from-internal` expect), `00` (`004626…`) or `e164`
(`+4626…`).
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.models import NumberingPlan

INTERNATIONAL_PREFIX = "00"  # Sweden's (ITU-T E.164 international call prefix)


def outbound_number(e164: str, country_code: str, fmt: str) -> str:
    """The digits the trunk gets for an E.164 number in the operator's format."""
    if not e164.startswith("+"):
        return e164  # already a dialable string (e.g. a short number)
    if fmt == "e164":
        return e164
    if fmt == "00":
        return INTERNATIONAL_PREFIX + e164[1:]
    domestic = "+" + country_code
    if e164.startswith(domestic):
        return "0" + e164[len(domestic) :]
    return INTERNATIONAL_PREFIX + e164[1:]


@dataclass(frozen=True, slots=True)
class Dialler:
    """Builds the dial strings of one organisation (shared by calls and the fallback rows)."""

    plan: NumberingPlan
    internal: str = "PJSIP/{local}"
    external: str = "PJSIP/{number}@trunk"
    fmt: str = "national"

    def local(self, e164: str) -> str | None:
        """The local digits of a number in the organisation's series (`83013`), else None."""
        for area, _ in self.plan.series:
            prefix = f"+{self.plan.country_code}{area}"
            if e164.startswith(prefix):
                return e164[len(prefix) :]
        return None

    def dial(self, e164: str) -> str:
        """The Dial() argument for one number."""
        number = outbound_number(e164, self.plan.country_code, self.fmt)
        local = self.local(e164)
        if local is not None:
            return self.internal.format(local=local, national=number, number=number)
        return self.external.format(local=number, national=number, number=number)

    def template_parts(self, template: str, field: str) -> tuple[str, str]:
        """A template split around its field (`PJSIP/{local}` → `PJSIP/`, ``), so the dialplan
        can build a dial string as `${PREFIX}${EXTEN}${SUFFIX}`."""
        for name in (field, "national", "number"):
            marker = "{" + name + "}"
            if marker in template:
                head, _, tail = template.partition(marker)
                return head, tail
        return template, ""
