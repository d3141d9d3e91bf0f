"""Fixtures for the REST tests (implementation in api_support.py)."""

from __future__ import annotations

from api_support import api  # noqa: F401 - a fixture
