"""Dead letters and delivery attempts, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any


def test_dead_letters_are_kept_newest_first_with_a_bounded_payload(store: Any) -> None:
    first = store.put_dead_letter("mqtt", "transactive/c/orders/a", "not valid JSON", b"{not json")
    big = b"\xff" + b"[" * 10_000
    second = store.put_dead_letter("mqtt", "transactive/c/orders/b", "nested deeper than 32 levels", big)
    assert second.id is not None and first.id is not None and second.id > first.id
    letters = store.dead_letters()
    assert [(d.topic, d.reason, d.payload_bytes) for d in letters] == [
        ("transactive/c/orders/b", "nested deeper than 32 levels", 10_001),
        ("transactive/c/orders/a", "not valid JSON", 9)]
    assert letters[0].payload == "\ufffd" + "[" * 1_999  # invalid UTF-8 replaced, 2,000 characters kept
    assert letters[1].payload == "{not json"
    assert [d.id for d in store.dead_letters(limit=1)] == [second.id]


def test_delivery_attempts_count_per_digest(store: Any) -> None:
    assert store.count_deliveries(["a", "b"]) == [1, 1]
    assert store.count_deliveries(["a"]) == [2]
    assert store.count_deliveries(["b", "a", "c"]) == [2, 3, 1]
    assert store.count_deliveries([]) == []
