"""The call log (ALV-18) in `<data_dir>/calllog.sqlite3` (or PostgreSQL), and threat incidents
(ALV-20). See docs/calllog.md.

One module per job:

- `models`: `CallEntry` (one call), `Incident`, how times are stored;
- `errors`: `CallLogError`, `UnknownCall`;
- `schema`: the tables, migrations and statements both engines run;
- `shared`: `CallLogStorage` (what callers need) and `SharedCallLog` (its methods, written once);
- `store`: `CallLogStore` on SQLite; `pg`: `PgCallLogStore` on PostgreSQL;
- `events`: `CallLog`, which folds AMI events and the service's outcome into entries and
  writes them;
- `export`: CSV for a spreadsheet;
- `records`: the service records kept beside the calls (schema 2).
"""

from switchboard.telephony.calllog.errors import CallLogError, UnknownCall
from switchboard.telephony.calllog.events import CallLog
from switchboard.telephony.calllog.export import CSV_FIELDS, calls_csv
from switchboard.telephony.calllog.models import CallEntry, Incident, db_time
from switchboard.telephony.calllog.schema import DB_NAME, SCHEMA_VERSION
from switchboard.telephony.calllog.shared import CallLogStorage, SharedCallLog
from switchboard.telephony.calllog.store import CallLogStore

__all__ = [
    "CSV_FIELDS",
    "DB_NAME",
    "SCHEMA_VERSION",
    "CallEntry",
    "CallLog",
    "CallLogError",
    "CallLogStorage",
    "CallLogStore",
    "Incident",
    "SharedCallLog",
    "UnknownCall",
    "calls_csv",
    "db_time",
]
