"""The phone book's non-personal entries (HAL-06, HAL-10): groups and shared phones.

They have a designation instead of a name and never a personal identity number; a search finds
them by designation, unit and keywords like users are found by name, title, unit and keywords.
"""

from __future__ import annotations

from routing.models import Directory, Group, SharedPhone


def matches(
    entry: Group | SharedPhone, q: str = "", unit: str = "", title: str = "", keyword: str = ""
) -> bool:
    """Every word of `q` in designation, unit or keywords; `unit`/`keyword` as substrings. A
    `title` filter is for people, so it never matches a group or shared phone."""
    if title:
        return False
    haystack = " ".join((entry.designation, entry.unit, *entry.keywords)).casefold()
    if any(word not in haystack for word in q.casefold().split()):
        return False
    if unit and unit.casefold() not in entry.unit.casefold():
        return False
    return not keyword or any(keyword.casefold() in k.casefold() for k in entry.keywords)


def search(
    directory: Directory, q: str = "", unit: str = "", title: str = "", keyword: str = ""
) -> list[dict[str, object]]:
    """Groups and shared phones matching the search, by designation, each marked with its
    `kind` ("group" or "shared_phone"); blocked shared phones are left out."""
    entries: list[Group | SharedPhone] = [
        *directory.groups,
        *(s for s in directory.shared_phones if not s.blocked),
    ]
    found = (e for e in entries if matches(e, q, unit, title, keyword))
    return [e.public() for e in sorted(found, key=lambda e: e.designation)]
