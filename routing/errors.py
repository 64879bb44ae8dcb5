"""Errors of the routing domain: one base, subclasses carry fields."""

from __future__ import annotations


class RoutingError(Exception):
    """Base of every routing-domain error."""

    error_id = "routing-error"


class NumberError(RoutingError, ValueError):
    """A written number that is not a number, or not valid where it must be."""

    error_id = "invalid-number"

    def __init__(self, number: str, problem: str) -> None:
        super().__init__(f"{number!r}: {problem}")
        self.number = number
        self.problem = problem


class ConfigProblem(RoutingError):
    """One problem in an organisation's configuration, at a dotted path (e.g. users[3].extension).

    Domain parsers return these; the loader adds the file and line before showing them.
    """

    error_id = "invalid-config"

    def __init__(self, path: str, message: str, file: str | None = None) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.file = file
