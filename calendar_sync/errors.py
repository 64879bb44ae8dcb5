"""Errors of the calendar domain: one base, subclasses carry fields."""

from __future__ import annotations


class CalendarError(Exception):
    """Base of every calendar-domain error."""

    error_id = "calendar-error"


class CalendarParseError(CalendarError):
    """A calendar that is not valid iCalendar (or not a calendar at all)."""

    error_id = "calendar-unparseable"

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickled across processes
        return (type(self), (self.source, self.reason))


class CalendarTooComplex(CalendarParseError):
    """A calendar whose reading went past its bounds (occurrences in the window, time, memory)."""

    error_id = "calendar-too-complex"


class CalendarReadTimeout(CalendarTooComplex):
    """A read that passed its time limit: tried again later (the machine may have been busy)."""

    error_id = "calendar-read-timeout"


class CalendarUnavailable(CalendarError):
    """A calendar that could not be fetched; `retry_after` in seconds when the server said."""

    error_id = "calendar-unavailable"

    def __init__(self, source: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type, tuple[str, str, float | None]]:
        return (type(self), (self.source, self.reason, self.retry_after))


class CalendarAuthFailed(CalendarUnavailable):
    """The calendar server refused our credentials (HTTP 401, invalid client secret)."""

    error_id = "calendar-auth-failed"


class MailboxNotFound(CalendarError):
    """The server does not know this mailbox / schedule (EWS ErrorMailRecipientNotFound)."""

    error_id = "calendar-mailbox-not-found"

    def __init__(self, source: str, mailbox: str, reason: str) -> None:
        super().__init__(f"{source}: {mailbox}: {reason}")
        self.source = source
        self.mailbox = mailbox
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (type(self), (self.source, self.mailbox, self.reason))


class CalendarCredentialsMissing(CalendarError):
    """A secret named in `calendar_sources` is not set in the environment or its secret file."""

    error_id = "calendar-credentials-missing"

    def __init__(self, source: str, variable: str) -> None:
        super().__init__(f"{source}: secret {variable} is not set")
        self.source = source
        self.variable = variable

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.source, self.variable))
