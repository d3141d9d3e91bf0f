"""Bounded JSON (issue 9, findings 1, 2): the nesting depth of the raw bytes, before any parser."""

from __future__ import annotations


def test_the_depth_limit_counts_nesting_not_brackets() -> None:
    """Brackets inside strings do not nest; many shallow brackets are not deep; 33 levels are."""
    from transactive.bounded_json import JsonLimitError, check_json, json_depth

    assert json_depth(b'{"a": "[[[[[[[[", "b": [[1], [2]]}') == 3
    check_json(b"[" + b"[], " * 1000 + b"[]]")  # 1,001 brackets, depth 2
    check_json(b'["' + b"[" * 100 + b'"]')  # inside a string
    check_json(b'["\\"' + b"[" * 100 + b'"]')  # an escaped quote does not end the string
    check_json(b"[" * 32 + b"]" * 32)
    for deep in (b"[" * 33 + b"]" * 33, b'{"a": ' * 33 + b"1" + b"}" * 33):
        try:
            check_json(deep)
        except JsonLimitError as exc:
            assert exc.message == "nested deeper than 32 levels"
        else:
            raise AssertionError("not refused")
