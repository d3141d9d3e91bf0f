"""Slot windows: the thesis schedule (3/7/3/2 minutes of 15), scaled, as a pure function of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transactive.market import MarketError, Phase, iso, parse_slot_start, slot_containing, window_at

START = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset_s", "phase"),
    [(-1, Phase.PENDING), (0, Phase.QUOTATION), (179, Phase.QUOTATION), (180, Phase.MATCHING),
     (599, Phase.MATCHING), (600, Phase.FEEDBACK), (779, Phase.FEEDBACK), (780, Phase.SETTLEMENT),
     (899, Phase.SETTLEMENT), (900, Phase.CLOSED), (10**6, Phase.CLOSED)],
)
def test_fifteen_minute_schedule(offset_s: int, phase: Phase) -> None:
    assert window_at(START, 15, START + timedelta(seconds=offset_s)).phase is phase


def test_window_bounds() -> None:
    w = window_at(START, 15, START + timedelta(minutes=4))
    assert (w.opens_at, w.closes_at) == (START + timedelta(minutes=3), START + timedelta(minutes=10))
    assert window_at(START, 15, START - timedelta(days=1)).closes_at == START
    assert window_at(START, 15, START + timedelta(hours=1)).opens_at == START + timedelta(minutes=15)


@given(st.sampled_from([1, 2, 5, 10, 15, 30, 60, 120, 1440]), st.data())
def test_scaled_schedule_matches_fractions(slot_minutes: int, data: st.DataObject) -> None:
    slot_us = slot_minutes * 60 * 10**6
    offset_us = data.draw(st.integers(0, slot_us - 1))
    now = START + timedelta(microseconds=offset_us)
    # exact integer comparison of offset / slot against 3/15, 10/15, 13/15
    expected = (Phase.QUOTATION if 15 * offset_us < 3 * slot_us else Phase.MATCHING if 15 * offset_us < 10 * slot_us
                else Phase.FEEDBACK if 15 * offset_us < 13 * slot_us else Phase.SETTLEMENT)
    assert window_at(START, slot_minutes, now).phase is expected


def test_parse_slot_start() -> None:
    assert parse_slot_start("2026-03-01T10:15:00Z", 15) == START
    assert parse_slot_start("2026-03-01T11:15:00+01:00", 15) == START
    assert iso(START) == "2026-03-01T10:15:00Z"
    assert slot_containing(START + timedelta(minutes=14, seconds=59), 15) == START
    for bad, message in [("2026-03-01T10:16:00Z", "multiple of 15"), ("2026-03-01T10:15:00", "offset"),
                         ("yesterday", "ISO 8601"), (17, "string"), ("0001-01-01T00:00:00Z", "range")]:
        with pytest.raises(MarketError, match=message) as info:
            parse_slot_start(bad, 15)
        assert info.value.field == "slot_start"

