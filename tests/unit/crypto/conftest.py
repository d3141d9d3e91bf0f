"""The crypto tests share reproducible keys and a domain."""

from __future__ import annotations

import pytest

pytest.importorskip("coincurve")
pytest.importorskip("eth_account")

from key_support import domain, private_keys, signers  # noqa: F401 - fixtures
