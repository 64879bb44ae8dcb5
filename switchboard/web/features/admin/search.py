"""Finding people and shared phones among thousands, for the administrator's page (issue 20).

The directory's users are indexed once per loaded directory (name, unit, id, title; every
number as digits both in national and international form), so a search over 3,000 users is a
scan of short strings, and a page shows only its slice. A query is words: each must be found;
a query of digits (spaces, dashes and `+` allowed: "026-830 12", "83012", "070-111 22 33")
matches a number, anything else the name, unit, id or title.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from routing.models import Directory, SharedPhone, User
from switchboard.web.auth import Account

MAX_QUERY = 100
_NOT_DIGIT = re.compile(r"\D")
_NUMBERISH = re.compile(r"^[\d\s\-+()]+$")

T = TypeVar("T", covariant=True)


@dataclass(frozen=True, slots=True)
class _Indexed(Generic[T]):
    entry: T
    unit: str
    text: str  # casefolded name, unit, id, title
    digits: str  # every number's digits, national and international, "|"-separated


@dataclass(frozen=True, slots=True)
class _Index:
    directory: Directory
    users: tuple[_Indexed[User], ...]
    phones: tuple[_Indexed[User | SharedPhone], ...]  # people and shared phones (blocking)
    everyone: tuple[User, ...]  # every user by name: the list before any search
    blocked: tuple[User | SharedPhone, ...]  # blocked in the directory itself


_cache: list[_Index] = []
_cache_lock = threading.Lock()


def _digits(numbers: tuple[str | None, ...], country: str) -> str:
    out: list[str] = []
    for n in numbers:
        if not n:
            continue
        plain = _NOT_DIGIT.sub("", n)
        out.append(plain)
        if plain.startswith(country):  # +46 26 830 12 is also 026-830 12
            out.append("0" + plain[len(country) :])
    return "|".join(out)


def _index(directory: Directory) -> _Index:
    """The search index of `directory`, built on its first use (one directory remembered)."""
    with _cache_lock:
        if _cache and _cache[0].directory is directory:
            return _cache[0]
        country = directory.plan.country_code
        users = tuple(
            _Indexed(
                u,
                u.unit,
                f"{u.name}|{u.unit}|{u.id}|{u.title}".casefold(),
                _digits((u.extension, u.mobile), country),
            )
            for u in sorted(directory.users, key=lambda u: (u.name.casefold(), u.id))
        )
        shared = tuple(
            _Indexed(
                p,
                p.unit,
                f"{p.designation}|{p.unit}|{p.id}".casefold(),
                _digits((p.mobile,), country),
            )
            for p in sorted(directory.shared_phones, key=lambda p: p.designation.casefold())
        )
        phones: tuple[_Indexed[User | SharedPhone], ...] = (*users, *shared)
        index = _Index(
            directory,
            users,
            phones,
            tuple(i.entry for i in users),
            tuple(i.entry for i in phones if i.entry.blocked),
        )
        _cache[:] = [index]
        return index


def clean_query(raw: str) -> str:
    """A query as searched: trimmed, at most MAX_QUERY characters."""
    return " ".join(raw.split())[:MAX_QUERY]


def _matcher(query: str) -> tuple[list[str], list[str]]:
    """(words for the text, digit strings for the numbers)."""
    if not query:
        return [], []
    if _NUMBERISH.match(query) and _NOT_DIGIT.sub("", query):
        return [], [_NOT_DIGIT.sub("", query)]
    return query.casefold().split(), []


def _matches(item: _Indexed[T], words: list[str], digits: list[str]) -> bool:
    return all(w in item.text for w in words) and all(d in item.digits for d in digits)


def find_users(directory: Directory, acct: Account, query: str) -> list[User]:
    """The users `acct` administers that match `query`, by name (all of them for "")."""
    words, digits = _matcher(clean_query(query))
    index = _index(directory)
    if not words and not digits:
        if not acct.units:
            return list(index.everyone)
        return [item.entry for item in index.users if item.unit in acct.units]
    return [
        item.entry
        for item in index.users
        if acct.administers(item.unit) and _matches(item, words, digits)
    ]


def blocked_in_directory(directory: Directory) -> tuple[User | SharedPhone, ...]:
    """The people and shared phones the directory itself has blocked (before any switch)."""
    return _index(directory).blocked


def by_name(entries: list[User | SharedPhone]) -> list[User | SharedPhone]:
    """People and shared phones in the order of the page: by name or designation."""
    return sorted(
        entries, key=lambda e: (e.name if isinstance(e, User) else e.designation).casefold()
    )


def find_phones(
    directory: Directory, acct: Account, query: str, limit: int
) -> list[User | SharedPhone]:
    """People and shared phones of `acct`'s units matching `query` (at most `limit`)."""
    words, digits = _matcher(clean_query(query))
    if not words and not digits:
        return []
    out: list[User | SharedPhone] = []
    for item in _index(directory).phones:
        if acct.administers(item.unit) and _matches(item, words, digits):
            out.append(item.entry)
            if len(out) >= limit:
                break
    return out
