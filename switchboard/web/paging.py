"""Pages of a long list, alike on every page and API (issue 20).

A `Page` is worked out from how many items there are and the page asked for, kept within the
pages there are (page 0 is page 1, a page past the end is the last one; `asked` keeps what was
asked, for "Sidan 999 finns inte"). `pager` turns it into the links the template macro
`pager` in `templates/_macros.html` draws: the previous and next page, the first, the last and
two around this one. A page number comes from the address two ways: `page_param` refuses
anything but a page number in Swedish (InvalidField, 422), `loose_page` reads nonsense as the
first page (a hand-edited address on a page that always has something to show).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from switchboard.web.errors import InvalidField

PER_PAGE = 50
MAX_PAGE = 100_000
T = TypeVar("T")


def thousands(n: int) -> str:
    """3000 as "3 000" (Swedish: a no-break space between thousands)."""
    return f"{n:,}".replace(",", "\u00a0")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its number (from 1), how many pages, how many items in all, the
    first and last shown (1-based; both 0 when the list is empty), the page size and the page
    the address asked for (may be past the end)."""

    number: int
    pages: int
    total: int
    first: int
    last: int
    per_page: int
    asked: int

    @property
    def beyond(self) -> bool:
        """The address asked for a page after the last one."""
        return self.asked > self.pages

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.number - 1) * self.per_page

    def of(self, items: Sequence[T]) -> list[T]:
        """This page's part of `items` (the whole list the page counts)."""
        return list(items[self.offset : self.offset + self.per_page])

    @property
    def shown(self) -> str:
        """The count line: "Visar 51–100 av 3 000"."""
        return f"Visar {thousands(self.first)}–{thousands(self.last)} av {thousands(self.total)}"

    @property
    def window(self) -> list[int | None]:
        """The page numbers to link: the first, the last and two around this one; None = …"""
        keep = {1, self.pages, *range(self.number - 2, self.number + 3)}
        out: list[int | None] = []
        for n in range(1, self.pages + 1):
            if n in keep:
                out.append(n)
            elif out and out[-1] is not None:
                out.append(None)
        return out


def page_of(total: int, requested: int, per_page: int = PER_PAGE) -> Page:
    """Page `requested` of `total` items, kept within the pages there are (at least one)."""
    per_page = max(1, per_page)
    total = max(0, total)
    pages = max(1, -(-total // per_page))
    number = min(max(1, requested), pages)
    first = (number - 1) * per_page + 1 if total else 0
    return Page(number, pages, total, first, min(number * per_page, total), per_page, requested)


@dataclass(frozen=True, slots=True)
class PageLink:
    """One link of a pager: a page number (None: the gap "…"), its address, whether shown."""

    n: int | None
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class Pager:
    """What the macro `pager` draws: the previous and next page's address ("" at the ends)
    and the numbered links."""

    page: Page
    previous: str
    next: str
    links: tuple[PageLink, ...]


def pager(pg: Page, href: Callable[[int], str]) -> Pager:
    """The links of `pg`, each page's address from `href` (which keeps the list's filter)."""
    return Pager(
        pg,
        href(pg.number - 1) if pg.number > 1 else "",
        href(pg.number + 1) if pg.number < pg.pages else "",
        tuple(PageLink(n, href(n) if n else "", n == pg.number) for n in pg.window),
    )


def page_param(
    query: Mapping[str, str], name: str = "page", most: int = MAX_PAGE, problem: str = ""
) -> int:
    """`?page=` (1 when absent or empty); InvalidField in Swedish for anything but a page
    number from 1 to `most` (`problem`: a feature's own words for it)."""
    raw = query.get(name) or ""
    if not raw:
        return 1
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not 1 <= int(raw) <= most:
        raise InvalidField(name, problem or "ange ett sidnummer från 1 och uppåt")
    return int(raw)


def per_page_param(
    query: Mapping[str, str], default: int, most: int, name: str = "per_page"
) -> int:
    """`?per_page=` (`default` when absent or empty); InvalidField in Swedish for anything but
    a whole number from 1 to `most`."""
    raw = query.get(name) or ""
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not 1 <= int(raw) <= most:
        raise InvalidField(name, f"ange ett heltal mellan 1 och {most}")
    return int(raw)


def loose_page(raw: str | None) -> int:
    """A page number from the address where nonsense means the first page ("", "x", "0")."""
    text = (raw or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return max(1, int(text))
    return 1
