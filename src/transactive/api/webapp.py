"""The web app: static files under ``api/web/`` served at ``/app``, with ``/`` redirecting there.

Plain HTML, JavaScript modules and CSS shipped as package data: no build step, nothing fetched from another
host (a strict Content-Security-Policy allows only this origin). The app talks to the REST API of the same
service with the member's API key (``Authorization: Bearer``). See ``docs/webapp.md``.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

WEB_DIR = Path(__file__).resolve().parent / "web"
MOUNT_PATH = "/app"
# only this origin: no inline script or style (the SVG charts use presentation attributes, which CSP allows)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _WebFiles(StaticFiles):
    """Static files with the security headers above and ``no-cache`` (revalidated by ETag on every load, so a
    new version of the service is picked up at once)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount_web_app(app: FastAPI) -> None:
    """Serve the web app at ``/app/`` and redirect ``/`` there (both left out of the OpenAPI document)."""
    # module scripts need a JavaScript type; do not depend on the host's /etc/mime.types (Python 3.11's own
    # table says application/javascript, which browsers also take, but one type everywhere is simpler to test)
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("image/svg+xml", ".svg")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(MOUNT_PATH + "/", status_code=307)

    app.mount(MOUNT_PATH, _WebFiles(directory=WEB_DIR, html=True), name="web")
