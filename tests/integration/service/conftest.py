"""A real Mosquitto broker for the multi-process gateway test; the store on SQLite and PostgreSQL."""

from __future__ import annotations

from service_support import mosquitto, postgres_url, store  # noqa: F401 - fixtures
