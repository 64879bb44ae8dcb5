"""The sample accounts files and the standalone app over a real organisation folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from webkit import START

from switchboard.config import load_config
from switchboard.web.auth import AccountsError, Role, load_accounts, verify_password
from switchboard.web.standalone import build_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("org", ["alvkarleby", "hallsberg"])
def test_sample_accounts_load_with_hashes_only(org: str) -> None:
    """accounts.yaml names directory users with roles and no plaintext password."""
    config = load_config(ROOT / "config" / org)
    path = config.folder / "accounts.yaml"
    assert "password:" not in path.read_text(encoding="utf-8")
    accounts, used_dev = load_accounts(path, config.directory, "utvecklingslösen")
    assert used_dev and accounts.with_role(Role.REGISTRAR) and accounts.with_role(Role.ADMIN)
    assert accounts.with_role(Role.IT)
    any_account = next(iter(accounts.by_user.values()))
    assert verify_password("utvecklingslösen", any_account.password_hash)
    with pytest.raises(AccountsError):
        load_accounts(path, config.directory, None)


async def test_standalone_app_serves_login_and_board(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_app(config, data_dir): ICS presence, SQLite stores and call log, the register."""
    monkeypatch.setenv("SWITCHBOARD_DEV_PASSWORD", "utvecklingslösen")
    config = load_config(ROOT / "config" / "alvkarleby")
    said: list[str] = []
    app = build_app(config, tmp_path / "data", now=lambda: START, announce=said.append)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/healthz")).status == 200
        resp = await client.post(
            "/api/login", json={"user": "helena.holm", "password": "utvecklingslösen"}
        )
        body = await resp.json()
        assert resp.status == 200 and "registrar" in body["roles"]
        queue = await client.get(
            "/api/registry/queue", headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert queue.status == 200
        page = await client.get("/")
        assert "Anna Andersson är på möte" in await page.text()
        resp = await client.post(
            "/api/login", json={"user": "ivar.isaksson", "password": "utvecklingslösen"}
        )
        it = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        calls = await client.get("/api/calls", headers=it)
        assert calls.status == 200
        assert (await calls.json()) == {"calls": [], "total": 0, "page": 1, "per_page": 100}
        incidents = await client.get("/api/incidents", headers=it)
        assert incidents.status == 200 and (await incidents.json()) == {"incidents": []}
    assert (tmp_path / "data" / "calllog.sqlite3").exists()
    assert any("SWITCHBOARD_SESSION_SECRET" in line for line in said)
