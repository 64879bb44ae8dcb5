"""Server-rendered HTML: one layout, escaped by default, Swedish text, no build step."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from switchboard.web.style import CSS


def e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def nav(links: Iterable[tuple[str, str]], current: str) -> str:
    """The navigation links, marking the current page for screen readers."""
    out = []
    for href, text in links:
        mark = ' aria-current="page"' if href == current else ""
        out.append(f'<a href="{e(href)}"{mark}>{e(text)}</a>')
    return "".join(out)


def page(
    title: str,
    body: str,
    *,
    links: Iterable[tuple[str, str]] = (),
    current: str = "",
    who: str | None = None,
    csrf: str | None = None,
    script: str = "",
) -> str:
    """A whole page in the shared layout."""
    logout = ""
    if who is not None and csrf is not None:
        logout = (
            f'<span class="who">{e(who)} '
            f'<form method="post" action="/logout"><input type="hidden" name="csrf" '
            f'value="{e(csrf)}"><button type="submit" class="secondary" '
            f'style="margin:0;padding:.2rem .6rem">Logga ut</button></form></span>'
        )
    js = f"<script>{script}</script>" if script else ""
    return (
        '<!doctype html><html lang="sv"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} – Växeln</title><style>{CSS}</style></head><body>"
        '<a class="skip" href="#main">Hoppa till innehållet</a>'
        f'<header><nav aria-label="Huvudmeny">{nav(links, current)}{logout}</nav></header>'
        f'<main id="main"><h1>{e(title)}</h1>{body}</main>{js}</body></html>'
    )


def hidden_csrf(token: str) -> str:
    """The hidden CSRF field every form carries."""
    return f'<input type="hidden" name="csrf" value="{e(token)}">'
