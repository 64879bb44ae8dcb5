"""How every part reports a problem in what it was given to read: one record per problem.

A domain's parser returns a list of `ConfigProblem`s (never raises on the first); the loader adds
the file and line (`switchboard.config`) before an operator sees them, in Swedish or English,
with what to do next.
"""

from __future__ import annotations


class ConfigProblem(Exception):
    """One problem in an organisation's configuration, at a dotted path (e.g. users[3].extension).

    Domain parsers return these; the loader adds the file and line before showing them.
    """

    error_id = "invalid-config"

    def __init__(self, path: str, message: str, file: str | None = None) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.file = file
