"""Operations' shapes: the liveness answer, and the OpenAPI 3 document generated from the same
endpoint table that adds the routes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from switchboard.web.core import Endpoint


@dataclass(frozen=True, slots=True)
class Health:
    """GET /healthz."""

    status: str
    organisation: str
    register: bool

    def as_json(self) -> dict[str, object]:
        """The liveness object."""
        return {"status": self.status, "organisation": self.organisation, "register": self.register}


_PARAM = re.compile(r"\{(\w+)\}")
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error_id", "message"],
    "properties": {"error_id": {"type": "string"}, "message": {"type": "string"}},
}


def _responses(ep: Endpoint) -> dict[str, object]:
    ok: dict[str, object] = {"description": "OK", "content": {ep.produces: {}}}
    out: dict[str, object] = {str(ep.ok): ok}
    err = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for status in ("400", "404", "413", "422"):
        out[status] = err
    if ep.roles:
        out["401"] = err
        out["403"] = err
    return out


def document(endpoints: Iterable[Endpoint], title: str) -> dict[str, object]:
    """OpenAPI 3.0 for every API and operations endpoint (pages are not part of the API)."""
    paths: dict[str, dict[str, object]] = {}
    for ep in endpoints:
        if ep.kind == "page":
            continue
        params: list[dict[str, object]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(ep.path)
        ]
        params += [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in ep.query.items()
        ]
        op: dict[str, object] = {
            "summary": ep.summary,
            "operationId": ep.handler.__name__,
            "tags": [
                ep.kind if not ep.roles else sorted(ep.roles)[0] if len(ep.roles) == 1 else "staff"
            ],
            "responses": _responses(ep),
        }
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ep.body}},
            }
        if ep.roles:
            op["security"] = [{"bearer": []}, {"cookie": []}]
            op["x-roles"] = sorted(ep.roles)
        else:
            op["security"] = []
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "sb_session"},
            },
        },
    }
