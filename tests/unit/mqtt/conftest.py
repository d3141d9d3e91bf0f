"""A real Mosquitto broker on loopback for the gateway tests."""

from __future__ import annotations

from service_support import mosquitto  # noqa: F401 - a fixture
