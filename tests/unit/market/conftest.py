"""The operator tests run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from service_support import postgres_url, store  # noqa: F401 - fixtures
