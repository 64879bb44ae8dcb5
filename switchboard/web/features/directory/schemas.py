"""The directory's shapes: a board row, a user's availability (calendar and manual redirect),
and the manual redirect's body schema. Only public fields leave here (User.public(): never the
personal identity number, HAL-10)."""

from __future__ import annotations

from dataclasses import dataclass

from routing.absence import AbsenceReason
from routing.effective import State
from routing.models import User

MANUAL_BODY = {
    "type": "object",
    "required": ["reason"],
    "properties": {
        "reason": {"type": "string", "enum": [r.value for r in AbsenceReason]},
        "until": {
            "type": "string",
            "description": "ALV-02: required end, local time if no offset; or 'further-notice'"
            " (tills vidare: ends at administration.manual_redirect_max_days)",
        },
        "until_further_notice": {"type": "boolean", "description": "same as 'further-notice'"},
        "text": {"type": "string", "maxLength": 200},
    },
}
DIRECTORY_QUERY = {
    "q": "words in name, title, unit or keywords",
    "unit": "unit",
    "title": "title",
    "keyword": "keyword",
}


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One directory row: the user's public fields, public number, state, caller's message."""

    user: User
    public_number: str | None
    state: State
    state_text: str
    reason: str | None
    reason_text: str | None
    source: str | None
    until: str | None  # ISO 8601, the organisation's zone
    returns: str | None
    returns_text: str | None
    until_further_notice: bool
    message: str | None
    # issue 20: what a colleague or the switchboard needs to act on a call to this person
    mobile: str | None = None  # E.164 (staff only: the public number is the extension, ALV-03)
    goes_to: str | None = None  # where a call to the extension ends up now (None: rings them)
    route: tuple[str, ...] = ()  # each step on the way, in words
    call_now: str | None = None  # E.164: the number that answers now
    call_now_name: str | None = None
    set_by: str | None = None  # who set the manual redirect in force (user id)
    set_by_name: str | None = None
    announcement: str = ""  # the board's polite sentence: "Anna Andersson är nu hänvisad …"
    involves: frozenset[str] = frozenset()  # ids whose change can change this row
    call_now_text: str | None = None  # national form ('026-830 13')

    @property
    def detail(self) -> str:
        """'Lunch, åter 11.30', 'Lunch, tills vidare' or ''."""
        text = self.reason_text or ""
        if self.returns_text:
            text += f", åter {self.returns_text}"
        elif self.until_further_notice:
            text += ", tills vidare"
        return text

    def as_json(self) -> dict[str, object]:
        """The row as the API and the server-sent events carry it."""
        out = self.user.public()
        out.update(
            mobile=self.mobile,
            goes_to=self.goes_to,
            route=list(self.route),
            call_now=self.call_now,
            call_now_name=self.call_now_name,
            call_now_text=self.call_now_text,
            set_by=self.set_by,
            set_by_name=self.set_by_name,
            announcement=self.announcement,
            detail=self.detail,
            public_number=self.public_number,
            state=self.state,
            state_text=self.state_text,
            reason=self.reason,
            reason_text=self.reason_text,
            source=self.source,
            until=self.until,
            returns=self.returns,
            returns_text=self.returns_text,
            until_further_notice=self.until_further_notice,
            message=self.message,
        )
        return out


@dataclass(frozen=True, slots=True)
class RedirectView:
    """The redirect the calendar gives now (the reason as it is only to the user, HV-04)."""

    reason: str
    until_further_notice: bool
    source: str
    start: str
    until: str | None
    returns: str | None
    text: str | None

    def as_json(self) -> dict[str, object]:
        """The API's object."""
        return {
            "reason": self.reason,
            "until_further_notice": self.until_further_notice,
            "source": self.source,
            "start": self.start,
            "until": self.until,
            "returns": self.returns,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class ManualView:
    """The manual redirect in force, and who set it."""

    reason: str
    until: str | None
    until_further_notice: bool
    text: str | None
    set_by: str | None

    def as_json(self) -> dict[str, object]:
        """The API's object."""
        return {
            "reason": self.reason,
            "until": self.until,
            "until_further_notice": self.until_further_notice,
            "text": self.text,
            "set_by": self.set_by,
        }


@dataclass(frozen=True, slots=True)
class Availability:
    """A user's full availability: board row, calendar-derived state, manual redirect."""

    row: BoardRow
    calendar: str  # "none", "ok" or "unavailable"
    calendar_redirect: RedirectView | None
    manual: ManualView | None
    at: str

    def as_json(self) -> dict[str, object]:
        """GET /api/users/{user_id}/availability."""
        return {
            **self.row.as_json(),
            "calendar": self.calendar,
            "calendar_redirect": self.calendar_redirect.as_json()
            if self.calendar_redirect
            else None,
            "manual": self.manual.as_json() if self.manual else None,
            "at": self.at,
        }
