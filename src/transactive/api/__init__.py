"""The REST interface (FastAPI): :func:`create_app`."""

from __future__ import annotations

from transactive.api.app import Service, Settings, create_app

__all__ = ["Service", "Settings", "create_app"]
