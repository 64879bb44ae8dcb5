"""ALV-02 / HV-03: a manual redirect always ends; "tills vidare" is an explicit, bounded choice.

A redirect "until further notice" is stored with its end at the organisation's maximum
(`administration.manual_redirect_max_days`) and without a spoken return time, which is how it
is told apart from one with a chosen end (that always has a return time, HV-02).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from routing.models import ManualRedirect, Redirect
from switchboard.admin_settings import admin_settings
from switchboard.config import Config
from switchboard.web.errors import InvalidField
from switchboard.web.http import bool_field, time_field

FURTHER_NOTICE = frozenset({"further-notice", "tills-vidare", "tills vidare"})
FURTHER_NOTICE_TEXT = "tills vidare"


def end_of(data: Mapping[str, object], config: Config, now: datetime) -> tuple[datetime, bool]:
    """The redirect's end and whether it is "tills vidare" (then the end is the maximum).

    `until` is a time, or "further-notice"; `until_further_notice: true` says the same.
    """
    raw = data.get("until")
    further = bool_field(data, "until_further_notice") or False
    until: datetime | None = None
    if isinstance(raw, str) and raw.strip().casefold() in FURTHER_NOTICE:
        further = True
    else:
        until = time_field(data, "until", config.org.timezone)
    max_days = admin_settings(config.settings).manual_redirect_max_days
    if until is not None and further:
        raise InvalidField("until", "ange antingen en sluttid eller tills vidare, inte båda")
    if further:
        return now + timedelta(days=max_days), True
    if until is None:
        raise InvalidField(
            "until",
            "ange när hänvisningen slutar (till exempel 2026-11-24T13:00), eller välj "
            f'tills vidare ("until": "further-notice"), som gäller i högst {max_days} dagar',
        )
    if until <= now:
        raise InvalidField("until", "sluttiden måste ligga i framtiden")
    return until, False


def manual_open_ended(m: ManualRedirect) -> bool:
    """A stored manual redirect set "tills vidare"."""
    return m.open_ended


def open_ended(r: Redirect) -> bool:
    """A redirect in force that is a manual one set "tills vidare"."""
    return r.open_ended
