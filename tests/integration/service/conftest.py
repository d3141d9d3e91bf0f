"""A real Mosquitto broker for the multi-process gateway test."""

from __future__ import annotations

from service_support import mosquitto  # noqa: F401 - a fixture
