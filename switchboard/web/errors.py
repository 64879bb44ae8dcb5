"""Errors of the web layer: one base with an HTTP status and a stable kebab-case `error_id`."""

from __future__ import annotations


class WebError(Exception):
    """Base of every web-layer error; `status` is the HTTP status it maps to."""

    error_id = "bad-request"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedJson(WebError):
    """The body is not JSON."""

    error_id = "malformed-json"


class InvalidField(WebError):
    """A field is missing, of the wrong type or out of range."""

    error_id = "invalid-field"
    status = 422

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class BodyTooLarge(WebError):
    """The request body is larger than the limit."""

    error_id = "body-too-large"
    status = 413


class NotAuthenticated(WebError):
    """No valid session or token."""

    error_id = "not-authenticated"
    status = 401


class SessionExpired(NotAuthenticated):
    """The session or token has expired; log in again."""

    error_id = "session-expired"


class LoginFailed(WebError):
    """Unknown user or wrong password (deliberately the same error for both)."""

    error_id = "login-failed"
    status = 401


class TooManyAttempts(WebError):
    """Login rate limit reached; `retry_after` seconds until the next attempt."""

    error_id = "too-many-attempts"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"för många inloggningsförsök; försök igen om {retry_after} sekunder")
        self.retry_after = retry_after


class Forbidden(WebError):
    """The signed-in account lacks the role or relation this needs."""

    error_id = "forbidden"
    status = 403


class CsrfFailed(WebError):
    """A state-changing request from a session without the matching CSRF token."""

    error_id = "csrf-failed"
    status = 403


class UnknownUser(WebError):
    """No user with this id in the directory."""

    error_id = "unknown-user"
    status = 404

    def __init__(self, user_id: str) -> None:
        super().__init__(f"det finns ingen användare {user_id!r} i katalogen")
        self.user_id = user_id


class BadRecordId(WebError):
    """A record id that is neither an internal id nor a registration number."""

    error_id = "bad-record-id"
    status = 404


class Unavailable(WebError):
    """A part the endpoint needs (register, call log) is not configured in this service."""

    error_id = "unavailable"
    status = 503
