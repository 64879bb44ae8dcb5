"""Today's service level as a page (issue 20): typed schemas, Swedish labels, row headers."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import ROLE_USERS

from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE
from switchboard.web.features.reports import service_level
from switchboard.web.features.reports.schemas import ServiceLevel

Client = TestClient[web.Request, web.Application]


async def test_hal03_the_typed_report_is_the_api_s_json(services: WebServices) -> None:
    """HAL-03/HAL-05: the page's typed report and the API's JSON are one shape both ways."""
    raw = await service_level.live(services, fresh=True)
    typed = ServiceLevel.of(raw)
    assert typed.as_json() == raw
    assert typed.calls == raw["calls"] and set(typed.by_hour) == set(raw["by_hour"])
    assert raw["must_call_again_count"] == typed.calls - typed.answered


async def test_hal03_the_page_in_swedish_with_row_headers(
    client: Client, services: WebServices
) -> None:
    """HAL-03: hours as 'kl. 09', kinds of number in Swedish, each row named by a row header;
    no raw keys such as 'extension' or '(no unit)'."""
    token, _ = client.app[STATE].codec.issue(ROLE_USERS[Role.IT], services.now())
    page = await (
        await client.get("/rapporter", headers={"Authorization": f"Bearer {token}"})
    ).text()
    text = re.sub(r"<[^>]+>", " ", page)
    r = await service_level.live_report(services)
    assert f"besvarade av {r.calls} samtal" in re.sub(r"\s+", " ", text)
    for hour in r.by_hour:
        assert f'<th scope="row" data-label="Timme">kl. {hour}</th>' in page
    assert "Anknytning" in text and "extension" not in text and "(no unit)" not in text
    assert page.count("<caption>") == 3
