"""How a register question becomes SQL: the registrar's search and filters (`RecordFilter`)
as WHERE conditions, the page of records and the count of all that match.

The free-text search (`RecordFilter.text`) means one thing on every path: a record matches when
one of its `SEARCHED` columns, as `LOWER()` gives it, holds one of the search's `case_forms`
(the search lower-cased; then with its letters beyond a–z — å, ä, ö, é … — in either case,
since LOWER() folds a–z only: "örjan" finds "Örjan Öst"), or its caller holds the search as a
number, or its owner is one of `text_owners`. How it is found
(`TextSearch`): by reading every record ("scan": the LIKE over each column), from SQLite's FTS5
index ("fts5", migration 5) or from PostgreSQL's pg_trgm index ("trigram"). A search shorter
than a trigram (3 characters) is always a scan.
"""

from __future__ import annotations

import string
from typing import Literal

from voicemail.models import (
    RecordStatus,
)
from voicemail.register import RecordFilter, to_db_time
from voicemail.register_schema import (
    PG_SEARCH_TEXT,
    RECORD_COLUMNS,
    SEARCHED,
    TEXT_TABLE,
)

TextSearch = Literal["scan", "fts5", "trigram"]
TRIGRAM = 3  # the shortest search a trigram index can answer
# A page of records among the first `FIRST_ROWS` of a list, for a search the FTS5 index finds
# in `DENSE` records or more, is read from the list in order, each record's columns checked
# (the scan, stopped at the page): for such a search a page is soon full, where the index
# would first gather every match (95,000 in 30 ms). Counts, and later pages, use the index.
DENSE = 2000
FIRST_ROWS = 200
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
CASED_LETTERS = 3  # letters beyond a–z tried in both cases (the first three): at most 8 forms


def case_forms(text: str) -> list[str]:
    """The forms of a search a column must hold, as `LOWER()` writes it (a–z folded, every
    other letter as stored): the search lower-cased first, then each of its first
    `CASED_LETTERS` letters beyond a–z upper-cased or not (a name is stored "Örjan", searched
    "örjan"), and the search as typed with a–z folded ("ÖSTRA" for "ÖSTRA")."""
    lower = text.lower()
    cased = [
        i
        for i, c in enumerate(lower)
        if not c.isascii() and len(c.upper()) == 1 and c.upper() != c and c.upper().lower() == c
    ][:CASED_LETTERS]
    forms = [lower]
    for mask in range(1, 1 << len(cased)):
        chars = list(lower)
        for bit, i in enumerate(cased):
            if mask >> bit & 1:
                chars[i] = chars[i].upper()
        forms.append("".join(chars))
    forms.append(text.translate(_ASCII_LOWER))
    return list(dict.fromkeys(forms))


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def record_query(where: RecordFilter, search: TextSearch = "fts5") -> tuple[str, list[object]]:
    """SELECT statement and parameters for `RegisterStore.records` (the text found by `search`)."""
    page_end = where.offset + where.limit if where.limit is not None else None
    conds, params = _record_conditions(where, search, page_end)
    sql = f"SELECT {RECORD_COLUMNS} FROM records"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    order = "arrived_at, id" if where.oldest_first else "arrived_at DESC, id DESC"
    sql += f" ORDER BY {order}"
    if where.limit is not None:
        sql += " LIMIT ?"
        params.append(where.limit)
        if where.offset:
            sql += " OFFSET ?"
            params.append(where.offset)
    return sql, params


def count_query(where: RecordFilter, search: TextSearch = "fts5") -> tuple[str, list[object]]:
    """SELECT COUNT(*) of the records the filter matches (limit and offset aside)."""
    conds, params = _record_conditions(where, search)
    sql = "SELECT COUNT(*) FROM records"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    return sql, params


def _record_conditions(
    where: RecordFilter, search: TextSearch, page_end: int | None = None
) -> tuple[list[str], list[object]]:
    conds: list[str] = []
    params: list[object] = []
    if where.owner_id is not None:
        conds.append("owner_id = ?")
        params.append(where.owner_id)
    if where.status is not None:
        conds.append("status = ?")
        params.append(where.status.value)
    if where.classification is not None:
        conds.append("classification = ?")
        params.append(where.classification.value)
    if where.classified_before is not None:
        conds.append("classified_at <= ?")
        params.append(to_db_time(where.classified_before))
    if not where.include_hidden:
        conds.append("hidden_from_owner = 0")
    if where.hidden_only:
        conds.append("hidden_from_owner = 1")
    if where.unheard_only:
        conds.append("first_heard_at IS NULL AND hidden_from_owner = 0 AND status <> ?")
        params.append(RecordStatus.DISPOSED.value)
    if where.year is not None:
        conds.append("reg_year = ?")
        params.append(where.year)
    if where.arrived_from is not None:
        conds.append("arrived_at >= ?")
        params.append(to_db_time(where.arrived_from))
    if where.arrived_before is not None:
        conds.append("arrived_at < ?")
        params.append(to_db_time(where.arrived_before))
    if where.recording_key is not None:
        conds.append("recording_key = ?")
        params.append(where.recording_key)
    if where.registration_number is not None:
        conds.append("registration_number = ?")
        params.append(where.registration_number)
    if where.text:
        phrases = text_phrases(where)
        if search == "fts5" and phrases is not None and page_end and page_end <= FIRST_ROWS:
            conds.append(_fts5_page_condition(where, phrases, params))
        elif search == "fts5" and phrases is not None:
            conds.append(_fts5_condition(where, phrases, params))
        elif search == "trigram" and phrases is not None:
            conds.append(_trigram_condition(where, params))
        else:
            conds.append(_scan(where, params))
    return conds, params


def text_phrases(where: RecordFilter) -> tuple[list[str], str | None] | None:
    """What a text index must hold for the search to match, as `LOWER()` writes a column: any
    of the search's `case_forms`; and the number for the caller's column. None when one of
    them is shorter than a trigram (the search is then a scan)."""
    text = where.text or ""
    phrases = case_forms(text)
    number = where.text_number.translate(_ASCII_LOWER) if where.text_number else None
    if min(len(p) for p in [*phrases, *([number] if number else [])]) < TRIGRAM:
        return None
    return phrases, number


def _fts5_quoted(phrase: str) -> str:
    """An FTS5 string: every character literal, its own double quotes doubled."""
    return '"' + phrase.replace('"', '""') + '"'


def _fts5_match(phrases: tuple[list[str], str | None]) -> str:
    """The FTS5 query: any of the phrases, the number in the caller's column only."""
    texts, number = phrases
    match = [_fts5_quoted(p) for p in texts]
    if number is not None:
        match.append(f"caller_number : {_fts5_quoted(number)}")
    return " OR ".join(match)


def _fts5_page_condition(
    where: RecordFilter, phrases: tuple[list[str], str | None], params: list[object]
) -> str:
    """A first page: when the index finds the search in `DENSE` records or more (counted up
    to there, which costs little), the scan's own check of each record the list reads in
    order; otherwise the index's set (`_fts5_condition`). Either way exactly the same records.
    The choice is a scalar subquery evaluated once per statement; written as two terms so that
    on the index's path a record the set lacks is passed over without reading its row."""
    dense = (
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM {TEXT_TABLE} WHERE {TEXT_TABLE} MATCH ?"
        f" LIMIT {DENSE})) >= {DENSE}"
    )
    params.append(_fts5_match(phrases))
    indexed = f"({dense} OR {_fts5_condition(where, phrases, params)})"
    params.append(_fts5_match(phrases))
    return f"{indexed} AND (NOT {dense} OR {_scan(where, params)})"


def _fts5_condition(
    where: RecordFilter, phrases: tuple[list[str], str | None], params: list[object]
) -> str:
    """The records whose text the FTS5 index holds (each phrase a substring of one column as
    LOWER() wrote it: exactly the scan's LIKE), or whose owner is one of `text_owners`.

    `+id`: the ids are a set, built once, which the list's own index (status, outcome, arrival)
    is read against in order: a search that matches most of the register costs the index read
    and the set, not a lookup and a sort of every match; one that matches nothing costs the
    list's index read alone (covering: the table is not read)."""
    params.append(_fts5_match(phrases))
    found = f"SELECT rowid FROM {TEXT_TABLE} WHERE {TEXT_TABLE} MATCH ?"
    if where.text_owners:
        found += (
            " UNION ALL SELECT id FROM records"
            f" WHERE owner_id IN ({', '.join('?' for _ in where.text_owners)})"
        )
        params.extend(where.text_owners)
    return f"+id IN ({found})"


def _trigram_condition(where: RecordFilter, params: list[object]) -> str:
    """The search on PostgreSQL from the pg_trgm index on `PG_SEARCH_TEXT` (the searched
    columns lowered, joined a line each). The joined text holds the search lower-cased exactly
    where one of its columns does (lower() maps each character alike joined or alone, and a
    search without a line break cannot span two lines): that alternative is the index alone.
    The others (the search as typed, the number) are found by the index, each then checked
    on its own columns; a search with a line break is checked on each column too."""
    text = where.text or ""
    folded, *others = (_like(form) for form in case_forms(text))
    alternatives = [f"{PG_SEARCH_TEXT} LIKE ? ESCAPE '\\'"]
    params.append(folded)
    if "\n" in text:
        alternatives[0] = f"({alternatives[0]} AND {_each_column('LOWER({})', folded, params)})"
    for other in others:
        params.append(other)
        alternatives.append(
            f"({PG_SEARCH_TEXT} LIKE LOWER(?) ESCAPE '\\'"
            f" AND {_each_column('LOWER({})', other, params)})"
        )
    if where.text_number:
        alternatives.append(
            f"({PG_SEARCH_TEXT} LIKE LOWER(?) ESCAPE '\\' AND caller_number LIKE ? ESCAPE '\\')"
        )
        params.extend([_like(where.text_number)] * 2)
    if where.text_owners:
        alternatives.append(f"owner_id IN ({', '.join('?' for _ in where.text_owners)})")
        params.extend(where.text_owners)
    return "(" + " OR ".join(alternatives) + ")"


def _each_column(column: str, pattern: str, params: list[object]) -> str:
    """`pattern` LIKE in any searched column (each written as `column`, e.g. `LOWER({})`)."""
    params.extend(pattern for _ in SEARCHED)
    return "(" + " OR ".join(f"{column.format(c)} LIKE ? ESCAPE '\\'" for c in SEARCHED) + ")"


def _scan(where: RecordFilter, params: list[object]) -> str:
    """The search as LIKE over every searched column of every record it is asked of."""
    text = where.text or ""
    # LOWER() folds a–z only (SQLite; PostgreSQL under the C locale): each of the search's
    # `case_forms` is tried, so "örjan" finds Örjan. A column at a time, no COALESCE (NULL
    # matches nothing): the cheapest form on both engines (a row's columns joined into one
    # text is slower). The owners are those whose name matched the search (the directory
    # knows names, the register only ids).
    alternatives: list[str] = []
    for form in case_forms(text):
        alternatives += [f"LOWER({c}) LIKE ? ESCAPE '\\'" for c in SEARCHED]
        params.extend(_like(form) for _ in SEARCHED)
    if where.text_number:
        alternatives.append("caller_number LIKE ? ESCAPE '\\'")
        params.append(_like(where.text_number))
    if where.text_owners:
        alternatives.append(f"owner_id IN ({', '.join('?' for _ in where.text_owners)})")
        params.extend(where.text_owners)
    return "(" + " OR ".join(alternatives) + ")"
