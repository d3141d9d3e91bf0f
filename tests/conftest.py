"""Shared test configuration: hypothesis profiles (deterministic in CI)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# the custodial keys' key-encryption key (docs/service.md, "Secrets at rest"): a fixed one, so no test writes the
# default key file into the home folder; the services the tests start inherit it
os.environ.setdefault("TRANSACTIVE_KEY_ENCRYPTION_KEY", "7e" * 32)
