"""HTTP API and server-rendered pages for staff, registrars, administrators and IT."""

from switchboard.web.routes import setup_web, web_store_ctx
from switchboard.web.services import WebServices

__all__ = ["WebServices", "setup_web", "web_store_ctx"]
