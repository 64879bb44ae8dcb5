"""The endpoints of issue 19's second policy round, added to the table in `routes.endpoints`."""

from __future__ import annotations

from switchboard.web import contact_centre, policy_pages, reports
from switchboard.web.auth import Role
from switchboard.web.core import ADMIN, STAFF, Endpoint

ADMIN_IT = frozenset({Role.ADMIN, Role.IT})
CONTACT = frozenset({Role.CONTACT_CENTRE})
CONTACT_ADMIN = frozenset({Role.CONTACT_CENTRE, Role.ADMIN})
_STR = {"type": "string"}


def endpoints() -> list[Endpoint]:
    """API and pages: reports, blocking, contact centre, my calls."""
    return [
        Endpoint(
            "GET",
            "/api/reports/service-level",
            reports.live_service_level,
            ADMIN_IT,
            "HAL-03/HAL-05 live: today's answered share per hour, unit and kind; coverage warnings",
        ),
        Endpoint(
            "GET",
            "/api/reports/unused-subscriptions",
            reports.unused_subscriptions,
            STAFF,
            "ALV-25: unused subscriptions and the year's count per unit (managers, admins)",
            query={"year": "the year of the count per unit (default this year)"},
        ),
        Endpoint(
            "GET",
            "/api/reports/blocked-attempts",
            reports.blocked_attempts,
            STAFF,
            "HAL-14: blocked premium-rate and international attempts (managers, admins)",
            query={"days": "how many days back (default 30)"},
        ),
        Endpoint(
            "PUT",
            "/api/admin/phones/{entry_id}/blocked",
            contact_centre.put_blocked,
            ADMIN,
            "ALV-21/HAL-12: block a lost phone (administrators of its unit); notifies",
            body={
                "type": "object",
                "required": ["blocked"],
                "properties": {"blocked": {"type": "boolean"}, "note": _STR},
            },
        ),
        Endpoint(
            "GET",
            "/api/contact-centre/notices",
            contact_centre.notices,
            CONTACT_ADMIN,
            "HAL-12/HAL-13: notices to the contact centre, newest first",
        ),
        Endpoint(
            "GET",
            "/api/contact-centre/directory-history",
            contact_centre.directory_history,
            CONTACT_ADMIN,
            "HAL-13: directory changes, newest first",
        ),
        Endpoint(
            "GET",
            "/api/contact-centre/assisted-calls",
            contact_centre.list_assisted,
            CONTACT_ADMIN,
            "ALV-26: international calls placed for users",
        ),
        Endpoint(
            "POST",
            "/api/contact-centre/assisted-calls",
            contact_centre.post_assisted,
            CONTACT,
            "ALV-26: place an international call for a user (logged with both parties)",
            body={
                "type": "object",
                "required": ["user", "to"],
                "properties": {"user": _STR, "to": _STR},
            },
            ok=201,
        ),
        # pages
        Endpoint("GET", "/rapporter", policy_pages.reports_page, ADMIN_IT, "Service level", "page"),
        Endpoint("GET", "/chef", policy_pages.manager_page, STAFF, "Manager's reports", "page"),
        Endpoint(
            "GET",
            "/kontaktcenter",
            policy_pages.contact_page,
            CONTACT_ADMIN,
            "Contact centre",
            "page",
        ),
        Endpoint(
            "POST",
            "/kontaktcenter/utlandssamtal",
            policy_pages.contact_assisted,
            CONTACT,
            "Place an international call for a user",
            "page",
        ),
        Endpoint("GET", "/mina-samtal", policy_pages.my_calls_page, STAFF, "My calls", "page"),
        Endpoint(
            "POST",
            "/mina-samtal/{call_id}/hot",
            policy_pages.my_threat,
            STAFF,
            "Flag a call I received as a threat",
            "page",
        ),
    ]
