"""The web layer's own state: manual redirects, admin overrides and sign-in state.

- `webstore.WebStore`: the in-memory mirror routing reads, over a backend; chooses the engine
  (`WebStore.for_storage`).
- `hub`: `ManualChange`, `SwitchChange` (the switches' audit) and the `ChangeHub` that fans
  changes out (board, telephone mirror).
- `backend`: the `WebBackend` protocol and `SharedWebBackend`, the methods both engines run
  alike over `storage.db.Db`.
- `sqlite_backend.SqliteWebBackend` (`<data_dir>/web/web.sqlite3`, the default) and
  `pg_backend.PgWebBackend` (beside the register; NOTIFY per write; imported only where
  PostgreSQL is used, so this package does not load asyncpg).
- `schema`: one list of migrations for both engines, and the statements.

Threat incidents live with the call log (`switchboard.telephony.calllog`).
"""

from switchboard.web.store.backend import WebBackend
from switchboard.web.store.hub import ChangeHub, ManualChange, SwitchChange
from switchboard.web.store.schema import DB_NAME, SCHEMA_VERSION
from switchboard.web.store.sqlite_backend import SqliteWebBackend
from switchboard.web.store.webstore import WebStore

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "ChangeHub",
    "ManualChange",
    "SqliteWebBackend",
    "SwitchChange",
    "WebBackend",
    "WebStore",
]
