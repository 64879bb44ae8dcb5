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
