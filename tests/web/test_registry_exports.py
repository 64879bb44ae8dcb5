"""The register's exports for people (issue 20): Swedish Excel CSV, XLSX and a date range."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from webkit import PASSWORD, ROLE_USERS, put_message

from switchboard.web import WebServices
from switchboard.web.auth import Role
from voicemail.intake import SpoolIntake

Client = TestClient[web.Request, web.Application]


async def registrar(client: Client) -> dict[str, str]:
    """The registrar's bearer header."""
    resp = await client.post(
        "/api/login", json={"user": ROLE_USERS[Role.REGISTRAR], "password": PASSWORD}
    )
    body = await resp.json()
    client.session.cookie_jar.clear()
    return {"Authorization": f"Bearer {body['token']}"}


async def test_rec01_excel_csv_opens_as_columns_in_swedish_excel(client: Client) -> None:
    """REC-01: the `excel` export starts with a UTF-8 BOM, separates with `;`, has Swedish
    headings, the owner's name, the caller in national form and local times."""
    h = await registrar(client)
    resp = await client.get("/api/registry/export", params={"format": "excel"}, headers=h)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert ".csv" in resp.headers["Content-Disposition"]
    data = await resp.read()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    head, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert head[:3] == ["Diarienummer", "Inkom", "Brevlåda"] and len(rows) == 3
    assert first["Brevlåda"] == "Anna Andersson" and first["Uppringare"] == "070-123 45 67"
    assert first["Uppringarens namn"] == "Örjan Öst" and first["Inkom"] == "2026-11-24 08:15"
    assert first["Status"] == "Väntar på klassificering"


async def test_rec01_xlsx_holds_dates_and_numbers(client: Client) -> None:
    """REC-01: the XLSX export is a workbook with real dates and numbers, headings frozen."""
    h = await registrar(client)
    resp = await client.get("/api/registry/export", params={"format": "xlsx"}, headers=h)
    assert resp.status == 200 and resp.content_type.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None and sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Diarienummer", "Inkom") and len(rows) == 3
    assert rows[1][1] == datetime(2026, 11, 24, 8, 15) and isinstance(rows[1][6], int)


async def test_rec01_export_of_a_date_range(client: Client, services: WebServices) -> None:
    """REC-01: `from`/`to` (local dates, both included) choose what is exported; a range that
    ends before it starts is refused in Swedish."""
    register = services.register
    assert register is not None
    spool = services.spool
    assert spool is not None
    earlier = int((services.now() - timedelta(days=4)).timestamp())  # Friday 20 November
    put_message(spool, "83013", 0, earlier, '"Per Persson" <0702223344>')
    await SpoolIntake(register, spool).run_once(services.now())
    h = await registrar(client)

    async def exported(**params: str) -> list[str]:
        resp = await client.get(
            "/api/registry/export", params={"format": "json", **params}, headers=h
        )
        assert resp.status == 200, await resp.text()
        return [r["caller_name"] for r in await resp.json()]

    assert sorted(await exported()) == ["Per Persson", "Stina Svensson", "Örjan Öst"]
    assert await exported(**{"from": "2026-11-24"}) == ["Örjan Öst", "Stina Svensson"]
    assert await exported(to="2026-11-20") == ["Per Persson"]
    assert await exported(**{"from": "2026-11-21", "to": "2026-11-23"}) == []
    bad = await client.get(
        "/api/registry/export",
        params={"format": "xlsx", "from": "2026-11-24", "to": "2026-11-20"},
        headers=h,
    )
    assert bad.status == 422 and "slutdatumet" in (await bad.json())["message"]
