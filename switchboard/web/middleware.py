"""The two middlewares: errors to HTTP (one place, stable `error_id`) and authentication."""

from __future__ import annotations

import asyncio
import hmac
import logging
from urllib.parse import quote

from aiohttp import web

from calendar_sync.errors import CalendarError
from routing.errors import RoutingError
from switchboard.telephony.errors import TelephonyError
from switchboard.web.auth import ROLE_SV, Account, Session
from switchboard.web.core import (
    SERVICES,
    SESSION_COOKIE,
    STATE,
    Handler,
    clear_identity,
    set_identity,
)
from switchboard.web.errors import (
    BodyTooLarge,
    CsrfFailed,
    Forbidden,
    NotAuthenticated,
    SessionExpired,
    TooManyAttempts,
    WebError,
)
from switchboard.web.layout import error_page
from switchboard.web.services import WebServices
from voicemail.errors import VoicemailError

log = logging.getLogger("switchboard.web")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Domain errors by error_id; anything with an error_id not listed is a 400 if it is a
# ValueError/LookupError (bad input), else 500.
DOMAIN_STATUS = {
    "unknown-record": 404,
    "not-permitted": 403,
    "record-disposed": 410,
    "invalid-classification": 422,
    "storage-error": 503,
    "invalid-number": 422,
    "calendar-unavailable": 503,
    "ami-not-connected": 503,
    "unknown-call": 404,
    "calllog-error": 503,
}
HTTP_IDS = {
    400: "bad-request",
    401: "not-authenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "too-many-attempts",
}


def wants_json(request: web.Request) -> bool:
    """API and operations paths answer JSON; pages answer HTML."""
    path = request.path
    if path.startswith(("/api/", "/healthz", "/metrics")):
        return True
    return "application/json" in request.headers.get("Accept", "")


def error_response(
    request: web.Request, status: int, error_id: str, message: str
) -> web.StreamResponse:
    """The error as JSON `{error_id, message}` or as a Swedish HTML page."""
    if wants_json(request):
        return web.json_response({"error_id": error_id, "message": message}, status=status)
    if status == 401:
        target = "/login?next=" + quote(request.path_qs, safe="") + f"&error={error_id}"
        resp = web.Response(status=303, headers={"Location": target})
        if error_id == "session-expired":
            resp.del_cookie(SESSION_COOKIE)
        return resp
    return web.Response(
        text=error_page(request, status, error_id, message),
        status=status,
        content_type="text/html",
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every error to a 4xx/5xx with a stable error_id; never a traceback in a response."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_id = HTTP_IDS.get(exc.status, f"http-{exc.status}")
        return error_response(request, exc.status, error_id, exc.reason)
    except WebError as exc:
        resp = error_response(request, exc.status, exc.error_id, exc.message)
        if isinstance(exc, TooManyAttempts):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except (VoicemailError, RoutingError, CalendarError, TelephonyError) as exc:
        error_id = str(getattr(exc, "error_id", "error"))
        default = 400 if isinstance(exc, ValueError | LookupError) else 500
        status = DOMAIN_STATUS.get(error_id, default)
        if status >= 500:
            log.error("%s %s: %s: %s", request.method, request.path, error_id, exc)
        return error_response(request, status, error_id, str(exc))
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(request, 500, "internal-error", "internal error (logged)")


def account_of(svc: WebServices, sess: Session) -> Account | None:
    """The session's account: a local one (accounts.yaml), or for a sign-in through the
    identity provider the directory user with the roles its token carries."""
    if sess.roles is None:
        return svc.accounts.get(sess.user_id)
    if svc.config.directory.user(sess.user_id) is None:
        return None  # left the directory since signing in
    return Account(sess.user_id, sess.roles, "")


def _token(request: web.Request) -> tuple[str | None, bool]:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session, enforce the endpoint's roles and CSRF on cookie-borne changes."""
    st = request.app[STATE]
    endpoint = st.endpoints.get(request.match_info.route)
    if endpoint is None:
        return await handler(request)
    clear_identity()
    svc = request.app[SERVICES]
    now = svc.now()
    token, via_cookie = _token(request)
    acct: Account | None = None
    if token is not None:
        try:
            sess = st.codec.verify(token, now)
            if await svc.store.session_revoked(sess.sid, sess.expires, now):
                raise SessionExpired("the session has ended; sign in again")
            acct = account_of(svc, sess)
            if acct is None:
                raise NotAuthenticated("the account no longer exists")
            set_identity(request, acct, sess, via_cookie)
        except NotAuthenticated:
            if endpoint.roles:
                raise
            acct = None  # a stale cookie on a public page (the login page) is ignored
    if endpoint.roles:
        if acct is None:
            raise NotAuthenticated("sign in first")
        if not acct.roles & endpoint.roles:
            raise Forbidden(
                "det här kräver behörigheten "
                + " eller ".join(ROLE_SV.get(r, str(r)) for r in sorted(endpoint.roles))
                + "; be en administratör om den om du behöver den"
            )
        if via_cookie and request.method not in SAFE_METHODS:
            await _check_csrf(request, st.codec.csrf(sess), svc.max_body)
    return await handler(request)


async def _check_csrf(request: web.Request, expected: str, limit: int) -> None:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        if request.content_length is not None and request.content_length > limit:
            raise BodyTooLarge(f"the body is larger than {limit} bytes")
        form = await request.post()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not same_token(sent, expected):
        raise CsrfFailed("missing or wrong CSRF token; reload the page")


def same_token(sent: object, expected: str) -> bool:
    """Constant-time equality: the time taken must not tell how much of a guess was right."""
    if not isinstance(sent, str):
        return False
    # bytes, since compare_digest refuses non-ASCII str; headers may carry escaped raw bytes
    return hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), expected.encode())
