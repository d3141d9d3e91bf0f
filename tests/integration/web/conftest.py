"""Fixtures for the web app tests (implementation in tests/web_support.py)."""

from __future__ import annotations

from web_support import browser_page, served  # noqa: F401 - fixtures
