"""The `storage:` section: which database engine (SQLite or PostgreSQL) holds the stores.

```yaml
storage:
  engine: postgresql          # or sqlite (the default: <data_dir>/voicemail/register.sqlite3)
  dsn_env: SWITCHBOARD_DSN    # environment variable holding postgresql://user:pw@host/db
  schema: alvkarleby          # optional: one schema per organisation in a shared database
  pool_size: 4                # optional
```

The DSN carries the password, so it only ever comes from the environment, never from YAML.
The stores are opened on these settings by `switchboard.storage`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from storage.problems import ConfigProblem

Engine = Literal["sqlite", "postgresql"]
ENGINES: tuple[Engine, ...] = ("sqlite", "postgresql")
_KEYS = {"engine", "dsn_env", "schema", "pool_size"}
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Which database engine holds the register, and how to reach it (DSN from the environment)."""

    engine: Engine = "sqlite"
    dsn_env: str | None = None
    dsn: str | None = field(default=None, repr=False)  # resolved from dsn_env; never printed
    schema: str = "public"
    pool_size: int = 4


def parse_storage(
    raw: object, environ: Mapping[str, str] | None = None
) -> tuple[StorageSettings, list[ConfigProblem]]:
    """Parse the section (absent → SQLite); the DSN is read from the variable `dsn_env` names."""
    env = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []
    if raw is None:
        return StorageSettings(), problems
    if not isinstance(raw, Mapping):
        return StorageSettings(), [ConfigProblem("", "must be a mapping")]
    for key in raw:
        if key in ("dsn", "password", "url"):
            problems.append(
                ConfigProblem(str(key), "never put the DSN or password in YAML: use dsn_env")
            )
        elif key not in _KEYS:
            problems.append(
                ConfigProblem(str(key), f"unknown key (expected one of {sorted(_KEYS)})")
            )
    engine = raw.get("engine", "sqlite")
    if engine not in ENGINES:
        problems.append(ConfigProblem("engine", "must be 'sqlite' or 'postgresql'"))
        return StorageSettings(), problems
    schema = raw.get("schema", "public")
    if not isinstance(schema, str) or not _SCHEMA.match(schema):
        problems.append(
            ConfigProblem("schema", "must be a lower-case name (letters, digits, _; max 63)")
        )
        schema = "public"
    pool_size = raw.get("pool_size", 4)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or not 1 <= pool_size <= 64:
        problems.append(ConfigProblem("pool_size", "must be a whole number from 1 to 64"))
        pool_size = 4
    dsn_env = raw.get("dsn_env")
    dsn: str | None = None
    if engine == "sqlite":
        for key in ("dsn_env", "schema", "pool_size"):
            if key in raw:
                problems.append(ConfigProblem(key, "only for engine: postgresql"))
        return StorageSettings(), problems
    if not isinstance(dsn_env, str) or not dsn_env:
        problems.append(
            ConfigProblem("dsn_env", "name the environment variable that holds the DSN")
        )
        dsn_env = None
    elif not env.get(dsn_env):
        problems.append(ConfigProblem("dsn_env", f"environment variable {dsn_env} is not set"))
    else:
        dsn = env[dsn_env]
        if not dsn.startswith(("postgresql://", "postgres://")):
            problems.append(ConfigProblem("dsn_env", f"{dsn_env} must hold a postgresql:// URL"))
            dsn = None
    return StorageSettings("postgresql", dsn_env, dsn, schema, pool_size), problems
