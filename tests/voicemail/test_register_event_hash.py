"""Issue 21: an audit event's `before` and `after` are serialised once — for its row and, the
same text, inside its hash. The hash is still `audit.event_hash`'s, for every event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from voicemail.audit import GENESIS, canonical, event_hash, verify_chain
from voicemail.register import must_time, to_db_time
from voicemail.register_sql import chained_hash, db_now, link_event

NOW = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
CONTENT = st.none() | st.dictionaries(st.text(max_size=12), JSON, max_size=6)
TEXT = st.text(max_size=30)  # quotes, backslashes, control characters, any Unicode


@settings(max_examples=150, deadline=timedelta(seconds=2), derandomize=True, database=None)
@given(
    TEXT,
    TEXT,
    st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    CONTENT,
    CONTENT,
    st.integers(min_value=1, max_value=2**40),
    st.datetimes(timezones=st.just(UTC)),
)
def test_chained_hash_is_event_hash(
    actor: str,
    action: str,
    record_id: int | None,
    before: dict[str, object] | None,
    after: dict[str, object] | None,
    seq: int,
    at: datetime,
) -> None:
    """REC-03: the hash over JSON made once equals `event_hash` over the values."""
    before_json = None if before is None else canonical(before)
    after_json = None if after is None else canonical(after)
    want = event_hash(GENESIS, seq, at, actor, action, record_id, before, after)
    assert chained_hash(GENESIS, seq, at, actor, action, record_id, before_json, after_json) == want


def test_linked_events_verify_and_store_what_they_hash() -> None:
    """REC-03: a chain linked by `link_event` verifies; each row holds the JSON that was hashed
    and the time as the register stores it, in any zone `now` was given."""
    events = []
    last = None
    stockholm = timezone(timedelta(hours=1))
    for n, now in enumerate([NOW, NOW.astimezone(stockholm), NOW + timedelta(seconds=1)]):
        after = {"n": n, "namn": 'Örjan "Ö" \\ Öst', "fält": [["k", "v"]], "ingen": None}
        event, params = link_event(last, "system:intake", "record.received", n, None, after, now)
        assert params[1] == db_now(now)[0] == to_db_time(now)
        assert event.at == must_time(to_db_time(now))
        assert params[5] is None and params[6] == canonical(after)
        events.append(event)
        last = (event.seq, event.hash)
    report = verify_chain(events, expected_head=events[-1].hash)
    assert report.ok and report.checked == 3, report
