"""Issue 14.3–4: Asterisk's configuration is generated from the organisation folder
(`switchboard asterisk-config`), docker/asterisk/ is that output, and sounds live in one place."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.config import load_config
from switchboard.telephony.asterisk_config import generate, parse_secrets
from switchboard.telephony.config import TelephonySettings, parse_telephony
from switchboard.telephony.service import check_sounds
from switchboard.telephony.sounds import SoundRenderer

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker" / "asterisk"
GENERATED = ("extensions.conf", "voicemail.conf", "pjsip.conf")


def docker_org(tmp_path: Path) -> Path:
    """The container's organisation: the sample folder with docker/organisation.yaml."""
    org = tmp_path / "org"
    shutil.copytree(
        ROOT / "config" / "alvkarleby", org, ignore=shutil.ignore_patterns("data", "scenarios")
    )
    secret = tmp_path / "ami-secret"
    secret.write_text("s3cret\n", encoding="utf-8")
    text = (ROOT / "docker" / "organisation.yaml").read_text(encoding="utf-8")
    (org / "organisation.yaml").write_text(text.replace("/run/secrets/ami", str(secret)), "utf-8")
    return org


def test_hal07_every_voicemail_user_has_a_mailbox_with_their_pin() -> None:
    """14.3: voicemail.conf lists every user with voicemail (8 in the sample, 83013 among
    them: no more "No entry in voicemail config file"), with their PIN; nobody else."""
    config = load_config(ROOT / "config" / "alvkarleby")
    text = generate(config.org, TelephonySettings()).files["voicemail.conf"]
    boxes = {
        line.split(" => ")[0]: line.split(" => ")[1]
        for line in text.splitlines()
        if " => " in line and not line.startswith(";")
    }
    users = [u for u in config.org.directory.users if u.voicemail]
    assert len(users) == 8 and set(boxes) == {u.mailbox for u in users}
    assert boxes["83013"] == "4822,Bertil Berg"
    assert "83015" not in boxes  # David Dahl: voicemail off (ALV-10)


def test_pjsip_endpoints_from_the_directory_trunk_identified_transport_not_everywhere() -> None:
    """14.3: one endpoint per extension (and Medborgarservice), the trunk with an `identify`,
    the transport bound to the configured address (never 0.0.0.0); passwords from a secrets
    file, placeholders (with a warning) otherwise."""
    config = load_config(ROOT / "config" / "alvkarleby")
    settings, problems = parse_telephony(
        {"pjsip": {"bind": "10.0.0.5:5060", "trunk_match": ["192.0.2.1"]}}, {}
    )
    assert problems == []
    out = generate(config.org, settings, {"83012": "long-secret-1"})
    text = out.files["pjsip.conf"]
    assert "bind = 10.0.0.5:5060" in text and "0.0.0.0" not in text
    assert "type = identify\nendpoint = trunk\nmatch = 192.0.2.1" in text
    for ext in ("83012", "83013", "83023", "83000"):
        assert f"[{ext}]\ntype = endpoint" in text
    assert "password = long-secret-1" in text and "password = CHANGE-ME-83013" in text
    assert any("placeholder password" in w for w in out.warnings)
    _, bad = parse_telephony({"pjsip": {"bind": "0.0.0.0:5060"}}, {})
    assert [p.path for p in bad] == ["pjsip.bind"]
    assert parse_secrets("# phones\n83012 = a b\n") == {"83012": "a b"}
    with pytest.raises(ValueError, match="line 1"):
        parse_secrets("83012\n")


def test_docker_files_are_what_the_container_organisation_generates(tmp_path: Path) -> None:
    """docker/asterisk/{extensions,voicemail,pjsip}.conf are `switchboard asterisk-config` of
    the container's organisation, byte for byte (regenerate them after a directory change)."""
    org = docker_org(tmp_path)
    assert main(["asterisk-config", str(org), str(DOCKER), "--check"]) == 0
    assert main(["asterisk-config", str(org), str(tmp_path / "out")]) == 0
    for name in GENERATED:
        assert (tmp_path / "out" / name).read_text(encoding="utf-8") == (DOCKER / name).read_text(
            encoding="utf-8"
        )
    (tmp_path / "out" / "voicemail.conf").write_text("[default]\n83012 => 4821,A\n", "utf-8")
    assert main(["asterisk-config", str(org), str(tmp_path / "out"), "--check"]) == 1


def test_sounds_dir_is_asterisks_sounds_directory_not_its_switchboard_folder() -> None:
    """14.4: one rule: files go to <sounds_dir>/switchboard/<key>.wav and are played as
    switchboard/<key>; a sounds_dir that is itself …/switchboard (which made
    …/switchboard/switchboard/<key>.wav) is a configuration error that says so."""
    _, problems = parse_telephony({"sounds_dir": "/var/lib/asterisk/sounds/switchboard"}, {})
    assert [p.path for p in problems] == ["sounds_dir"]
    assert "Asterisk's sounds directory" in problems[0].message
    settings, problems = parse_telephony({"sounds_dir": "/var/lib/asterisk/sounds"}, {})
    assert problems == [] and settings.sounds_dir == "/var/lib/asterisk/sounds"


def test_a_sounds_folder_asterisk_cannot_get_is_an_error_with_the_path_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """14.4: at start-up a sounds folder that cannot be made (a file is in the way) is an
    error in the log naming the path; a usable one passes."""
    caplog.set_level(logging.ERROR)
    assert check_sounds(SoundRenderer(tmp_path / "ok")) is True
    (tmp_path / "blocked").write_text("not a folder", encoding="utf-8")
    assert check_sounds(SoundRenderer(tmp_path / "blocked")) is False
    assert str(tmp_path / "blocked" / "switchboard") in caplog.text


def test_the_outbound_blocked_prompt_is_a_sound_the_service_renders() -> None:
    """14.4: `from-internal` no longer names `switchboard/blocked`, a file nothing renders:
    it plays the sound the service renders and names in AstDB (switchboard/config)."""
    text = (DOCKER / "extensions.conf").read_text(encoding="utf-8")
    assert "switchboard/blocked)" not in text
    assert "DB(switchboard/config/blocked_international)" in text
