"""The web app's static files: served at /app with the security headers, / redirects there, every file and module
import resolves, nothing is loaded from another host, and the package data globs ship every file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from api_support import Api

from transactive.api.webapp import WEB_DIR

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "transactive"
WEB_FILES = sorted(p for p in WEB_DIR.rglob("*") if p.is_file())
XML_NAMESPACES = {"http://www.w3.org/2000/svg"}  # names, never fetched
IMPORT = re.compile(r"""^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)";?""", re.MULTILINE | re.DOTALL)
REFERENCE = re.compile(r"""(?:src|href)="([^"#]+)\"""")


def test_root_redirects_to_the_app(api: Api) -> None:
    r = api.client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/app/"
    r = api.client.get("/app/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="js/main.js">' in r.text


def test_every_file_is_served_with_its_type(api: Api) -> None:
    types = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    assert {p.suffix for p in WEB_FILES} <= set(types)
    for path in WEB_FILES:
        r = api.client.get("/app/" + path.relative_to(WEB_DIR).as_posix())
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(types[path.suffix]), (path, r.headers["content-type"])
    r = api.client.get("/app/js/no-such-module.js")
    assert r.status_code == 404 and r.json() == {"error": {"field": "(path)", "message": "Not Found"}}


def test_references_and_imports_resolve_locally() -> None:
    referenced = 0
    for path in WEB_FILES:
        text = path.read_text(encoding="utf-8")
        targets = IMPORT.findall(text) if path.suffix == ".js" else REFERENCE.findall(text)
        for target in targets:
            if target.startswith("../docs"):  # the API's own Swagger UI, same service
                continue
            assert "://" not in target and not target.startswith("/"), (path, target)  # relative: same service
            assert (path.parent / target).resolve().is_file(), (path, target)
            referenced += 1
        assert not set(re.findall(r"https?://[^\s\"'`)]+", text)) - XML_NAMESPACES, path
    assert referenced >= 20  # main.js, its views and their helpers, the stylesheet and the icon


def test_package_data_ships_every_web_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["transactive"]
    shipped = {p for pattern in patterns for p in PACKAGE.glob(pattern)}
    assert set(WEB_FILES) <= shipped, sorted(str(p) for p in set(WEB_FILES) - shipped)
