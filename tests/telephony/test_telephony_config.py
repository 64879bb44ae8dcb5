"""The `telephony:` section: defaults, the AMI secret from the environment, refused values."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.telephony.config import TelephonySettings, parse_telephony

ASTERISK = {
    "platform": "asterisk",
    "ami": {"host": "127.0.0.1", "port": 5038, "username": "switchboard", "secret_env": "AMI_S"},
}


def paths(raw: object, env: dict[str, str] | None = None) -> list[str]:
    """The problem paths for a raw section."""
    return [p.path for p in parse_telephony(raw, env or {})[1]]


def test_absent_section_is_the_simulated_platform() -> None:
    """No `telephony:` → the simulated platform with defaults, no problems."""
    settings, problems = parse_telephony(None, {})
    assert settings == TelephonySettings() and settings.platform == "simulated"
    assert problems == []


def test_asterisk_takes_the_secret_from_the_environment() -> None:
    """The secret comes from the named variable, never from YAML; it is not in the repr."""
    settings, problems = parse_telephony(ASTERISK, {"AMI_S": "s3cret"})
    assert problems == [] and settings.platform == "asterisk"
    assert settings.ami.secret == "s3cret" and "s3cret" not in repr(settings)


def test_asterisk_without_the_secret_variable_is_a_clear_problem() -> None:
    """An unset secret variable names the variable."""
    _, problems = parse_telephony(ASTERISK, {})
    assert [(p.path, p.message) for p in problems] == [
        ("ami.secret_env", "environment variable AMI_S is not set")
    ]


def test_secret_in_yaml_and_missing_ami_are_refused() -> None:
    """`ami.secret` in YAML is refused; asterisk without `ami` is refused."""
    assert "ami.secret" in paths({"platform": "asterisk", "ami": {"secret": "x"}})
    assert paths({"platform": "asterisk"}) == ["ami"]


def test_secret_file(tmp_path: Path) -> None:
    """`secret_file` is read and stripped; a missing file is a problem."""
    (tmp_path / "s").write_text("from-file\n", encoding="utf-8")
    raw = {"platform": "asterisk", "ami": {"secret_file": str(tmp_path / "s")}}
    settings, problems = parse_telephony(raw, {})
    assert problems == [] and settings.ami.secret == "from-file"
    assert paths({"platform": "asterisk", "ami": {"secret_file": str(tmp_path / "x")}}) == [
        "ami.secret_file"
    ]


@pytest.mark.parametrize(
    ("raw", "env", "path"),
    [
        ({"ami": {"host": "127.0.0.1\r\nAction: Originate"}}, {}, "ami.host"),
        ({"ami": {"username": "sb\r\nAction: Originate"}}, {}, "ami.username"),
        ({"internal_dial": "PJSIP/{local}\r\n"}, {}, "internal_dial"),
        ({"external_dial": "PJSIP/{national}@trunk\n"}, {}, "external_dial"),
        ({**ASTERISK}, {"AMI_S": "a\r\nAction: Originate"}, "ami.secret"),
    ],
)
def test_cr_lf_in_values_is_refused(raw: dict[str, object], env: dict[str, str], path: str) -> None:
    """No value that reaches an AMI header may contain CR or LF."""
    assert path in paths(raw, env)


def test_timeouts_carry_the_ami_prefix() -> None:
    """Problems in ami.connect_timeout_s / ami.action_timeout_s name their full path."""
    got = paths({"ami": {"connect_timeout_s": 0, "action_timeout_s": "x"}})
    assert got == ["ami.connect_timeout_s", "ami.action_timeout_s"]
    assert paths({"call_deadline_s": -1}) == ["call_deadline_s"]


def test_unknown_keys_and_platform() -> None:
    """Unknown keys at both levels and an unknown platform are problems."""
    got = paths({"platfrom": "x", "platform": "freeswitch", "ami": {"hots": "x"}})
    assert got == ["platfrom", "platform", "ami.hots"]


def test_loader_reports_the_full_dotted_path(tmp_path: Path) -> None:
    """Through load_config the path is `telephony.ami.connect_timeout_s`."""
    import shutil

    from switchboard.config import ConfigError, load_config

    root = Path(__file__).resolve().parents[2] / "config" / "alvkarleby"
    folder = tmp_path / "alvkarleby"
    shutil.copytree(root, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    with (folder / "organisation.yaml").open("a", encoding="utf-8") as f:
        f.write("telephony:\n  ami: {connect_timeout_s: 0}\n")
    with pytest.raises(ConfigError) as err:
        load_config(folder)
    assert any(
        "telephony.ami.connect_timeout_s: must be a positive number" in p
        for p in err.value.problems
    )
