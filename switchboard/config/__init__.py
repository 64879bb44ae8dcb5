"""An organisation folder loaded into a typed `Config` (`load_config`), or a `ConfigError`
listing every problem as `FILE:LINE: dotted.path: message`.

`loader` reads the two files and calls one module per part: `organisation` (identity, plan,
hours, policy), `voicemail_settings`, `presence_rules` (the `calendar:` section), `directory`
(users, groups, shared phones), `extensions` (the sections other features own: `storage_settings`,
`http_settings`, `admin_settings` here, the rest beside their feature) and `checks` (the rules
spanning both files). `model` holds `Config`.
"""

from switchboard.config.admin_settings import AdminSettings
from switchboard.config.http_settings import HttpSettings, OidcSettings
from switchboard.config.loader import DIRECTORY_FILE, ORGANISATION_FILE, ConfigError, load_config
from switchboard.config.model import Config, normaliser
from switchboard.config.storage_settings import StorageSettings

__all__ = [
    "DIRECTORY_FILE",
    "ORGANISATION_FILE",
    "AdminSettings",
    "Config",
    "ConfigError",
    "HttpSettings",
    "OidcSettings",
    "StorageSettings",
    "load_config",
    "normaliser",
]
