"""organisation.yaml's `voicemail:` section: mailboxes for extension users (ALV-12), the
app_voicemail context and spool, the register's series, disposal rules and registrars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.yamlcheck import Checker
from voicemail.models import Classification, DisposalRule, VoicemailSettings

_KEYS = {"extension_users", "context", "spool", "series", "disposal_rules", "registrars"}
_RULE_KEYS = {"name", "classification", "days_after_classification"}


def parse_voicemail(c: Checker, raw: Any, root: Path) -> VoicemailSettings:
    """The section (absent: the defaults); a relative spool is under the organisation folder."""
    vm_raw = c.mapping(raw, "voicemail", _KEYS)
    extension_users = vm_raw.get("extension_users", "enabled")
    if extension_users not in ("enabled", "disabled", True, False):
        c.err("voicemail.extension_users", "must be enabled or disabled")
    rules_out: list[DisposalRule] = []
    classes = {cls.value: cls for cls in Classification}
    for i, r in enumerate(vm_raw.get("disposal_rules") or []):
        path = f"voicemail.disposal_rules[{i}]"
        rm = c.mapping(r, path, _RULE_KEYS)
        cls = classes.get(str(rm.get("classification")))
        days = rm.get("days_after_classification")
        if cls is None:
            c.err(f"{path}.classification", f"must be one of: {', '.join(classes)}")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            c.err(f"{path}.days_after_classification", "must be a whole number of days >= 0")
        elif cls is not None:
            rules_out.append(DisposalRule(str(rm.get("name") or f"rule-{i + 1}"), cls, days))
    spool = c.string(vm_raw, "spool", "voicemail")
    return VoicemailSettings(
        extension_users=extension_users in ("enabled", True),
        context=c.string(vm_raw, "context", "voicemail") or "default",
        spool=str((root / spool).resolve()) if spool else None,
        series=c.string(vm_raw, "series", "voicemail") or "RÖST",
        disposal_rules=tuple(rules_out),
        registrars=c.strings(vm_raw, "registrars", "voicemail"),
    )
