"""The engine-neutral interface every store writes its statements against.

`storage.sqlite.SqliteDb` and `storage.postgresql.PgDb` both satisfy `Db`: statements are
written once with `?` placeholders (PostgreSQL numbers them with `numbered`), rows are sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …` (our SQL has no `?` inside literals)."""
    parts = sql.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        out.append(f"${i}{part}")
    return "".join(out)


class Row(Protocol):
    """A result row of either engine (a tuple from aiosqlite, an asyncpg Record)."""

    def __getitem__(self, index: int, /) -> Any:
        """The value of one column by position."""


class Db(Protocol):
    """Either engine as the stores' shared methods see it: `storage.sqlite.SqliteDb` or
    `storage.postgresql.PgDb`. Statements are written with `?`; rows are sequences."""

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        """Every row."""

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Sequence[Any] | None:
        """The first row, or None."""

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """Run one statement."""

    def transaction(self, lock_name: str | None = None) -> AbstractAsyncContextManager[Db]:
        """One transaction (on PostgreSQL under the advisory lock `lock_name`)."""
