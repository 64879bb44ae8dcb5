"""The registrar's lists stay fast at 100,000 records (issue 20): every view is answered from an
index, in arrival order, without reading the whole table or sorting it (SQLite's query plan for
exactly the question the page asks); the filters behind the views on both engines."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from storekit import make_storage
from webkit import OWNER, ROLE_USERS

from switchboard.config import Config
from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.features.registry.schemas import VIEWS, Listing
from switchboard.web.features.registry.service import record_filter
from voicemail.models import Classification
from voicemail.register import RecordFilter
from voicemail.register_query import count_query, record_query

LISTINGS = (
    [Listing(view=v) for v in VIEWS]
    + [Listing(view="classified", outcome=c) for c in Classification]
    + [
        Listing(view="all", first=date(2026, 11, 1), last=date(2026, 11, 30), sort="newest"),
        Listing(view="hidden", sort="newest", page=3),
        Listing(view="disposed", outcome=Classification.NOT_PUBLIC_PRIVATE, first=date(2026, 1, 1)),
        Listing(view="all", query="alv-röst-2026-000042"),  # a whole number: its unique index
    ]
)
# Free text over the whole register and in the queue: the FTS5 index (migration 5), the owners
# by name ("Anna") and the caller by number beside it, the list's own index read in order.
SEARCHES = (
    Listing(view="classified", query="benchmark"),
    Listing(view="all", query="Örjan", sort="newest", page=4),
    Listing(view="waiting", query="Anna"),
    Listing(view="all", query="070-123 45 67"),
    Listing(view="classified", outcome=Classification.PUBLIC_MINOR, query="bygglov"),
)


async def test_every_view_reads_an_index_in_order(config: Config, tmp_path: Path) -> None:
    """For each list (and an outcome, a date range, the newest first, a later page): the page's
    SELECT and its COUNT search an index and never sort (no temporary B-tree); a free-text
    search reads the FTS5 index, not the records."""
    storage = make_storage("sqlite", tmp_path / "vm")
    reg = await storage.open_register(config.org, config.voicemail)
    await reg.close()
    con = sqlite3.connect(tmp_path / "vm" / "register.sqlite3")
    try:
        con.execute("ANALYZE")
        for listing in [*LISTINGS, *SEARCHES]:
            where = record_filter(config.org, listing)
            for sql, params in (record_query(where), count_query(where)):
                plan = " | ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, params))
                assert "USING" in plan and "INDEX" in plan, (listing, plan)
                assert "TEMP B-TREE" not in plan, (listing, plan)
                if listing in SEARCHES:  # the text from the index, no record read for it
                    assert "SCAN records_text VIRTUAL TABLE" in plan, (listing, plan)
                    assert "SCAN records |" not in plan + " |", (listing, plan)
    finally:
        con.close()


@pytest.mark.parametrize("hidden_only", [True, False])
async def test_the_hidden_filter_and_the_owner_search_on_both_engines(
    services: WebServices, hidden_only: bool
) -> None:
    """`hidden_only` keeps what the owner deleted (REC-04: hidden, kept); `text_owners` finds a
    mailbox by its owner when the text matches nothing else."""
    reg = services.register
    assert reg is not None
    first, second = [i.record for i in await reg.queue(services.now())]
    await reg.hide(first.id, OWNER, services.now())
    where = RecordFilter(hidden_only=hidden_only)
    found = [r.id for r in await reg.store.records(where)]
    assert found == ([first.id] if hidden_only else [first.id, second.id])
    assert await reg.store.count_matching(where) == len(found)
    by_owner = RecordFilter(text="Anna And", text_owners=(OWNER,))
    assert [r.id for r in await reg.store.records(by_owner)] == [first.id, second.id]
    nobody = replace(by_owner, text_owners=(ROLE_USERS[Role.STAFF],))
    assert await reg.store.count_matching(nobody) == 0
