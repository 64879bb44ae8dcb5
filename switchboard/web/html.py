"""Escaping for the HTML still built in Python; pages render through Jinja2 templates
(`switchboard.web.templating`), whose layout replaced this module's `page` and `nav`."""

from __future__ import annotations

from html import escape


def e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def hidden_csrf(token: str) -> str:
    """The hidden CSRF field every form carries."""
    return f'<input type="hidden" name="csrf" value="{e(token)}">'
