"""Who may set or clear someone's manual redirect (ALV-02): the person themself, their manager
(`manager` in the directory) and administrators; anyone else gets a 403 that says so."""

from __future__ import annotations

from aiohttp import web

from routing.models import Directory
from switchboard.web.auth import Account, Role
from switchboard.web.core import account, services
from switchboard.web.errors import Forbidden

REFUSED = (
    "du kan bara ändra din egen hänvisning och, om du är chef, dina medarbetares; be deras chef "
    "eller en administratör att ändra den"
)


def may_redirect(me: Account, user_id: str, directory: Directory) -> bool:
    """Oneself, an administrator for anyone, a manager for their staff."""
    if me.user_id == user_id or Role.ADMIN in me.roles:
        return True
    user = directory.user(user_id)
    return user is not None and user.manager == me.user_id


def staff_of(me: Account, directory: Directory) -> list[str]:
    """The user ids whose redirect `me` may set besides their own (everyone for an admin)."""
    if Role.ADMIN in me.roles:
        return [u.id for u in directory.users if u.id != me.user_id]
    return [u.id for u in directory.users if u.manager == me.user_id]


def require_may_redirect(request: web.Request, user_id: str) -> Account:
    """The signed-in account if it may change `user_id`'s redirect, else Forbidden (Swedish)."""
    me = account(request)
    if not may_redirect(me, user_id, services(request).config.directory):
        raise Forbidden(REFUSED)
    return me
