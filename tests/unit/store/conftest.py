"""The same storage suite runs on SQLite (a file) and on a real PostgreSQL on loopback."""

from __future__ import annotations

from service_support import postgres_url, store  # noqa: F401 - fixtures
