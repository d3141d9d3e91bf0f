"""The accelerated clock keeps its origin in the data directory (issue 9, finding 11): after a restart market
time goes on from where it was (plus the downtime, accelerated), never back to the wall clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from transactive.market import AcceleratedClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_restart_goes_on_from_the_recorded_origin(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    first = AcceleratedClock.persistent(path, 60, T0)
    assert first.origin == T0 and first.now() >= T0
    # restarted 10 s (wall) later: 600 s of market time went by, not 0
    again = AcceleratedClock.persistent(path, 60, T0 + timedelta(seconds=10))
    assert again.origin == T0 + timedelta(seconds=600)
    assert again.now() >= again.origin
    # a wall clock that stepped back does not move market time back
    assert AcceleratedClock.persistent(path, 60, T0 - timedelta(hours=1)).origin == T0


def test_another_factor_re_anchors_without_a_jump(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    AcceleratedClock.persistent(path, 60, T0)
    faster = AcceleratedClock.persistent(path, 120, T0 + timedelta(seconds=20))  # 20 s at x60 = 1200 s
    assert faster.origin == T0 + timedelta(seconds=1200)
    assert json.loads(path.read_text())["factor"] == 120
    later = AcceleratedClock.persistent(path, 120, T0 + timedelta(seconds=21))  # + 1 s at x120
    assert later.origin == T0 + timedelta(seconds=1320)


def test_a_damaged_origin_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"clock\.json"):
        AcceleratedClock.persistent(path, 60, T0)
