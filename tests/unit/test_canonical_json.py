"""Canonical JSON (:mod:`transactive.canonical_json`): a document written with its large values encoded once is
byte for byte the plain canonical encoding (sorted keys, no spaces), for any JSON document (hypothesis), and a
large value's text is reused only for that very object (an equal or a different object is encoded itself)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from transactive.canonical_json import canonical, canonical_document, canonical_once

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                                          max_size=4), max_leaves=20)


@given(st.dictionaries(st.sampled_from(["batch", "input", "txs", "note", "a", "Z", "é"]), _json))
def test_a_document_with_large_values_once_is_the_canonical_text(document: dict[str, Any]) -> None:
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert canonical(document) == expected
    for _ in range(2):  # the second time from the kept texts
        assert canonical_document(document, ("batch", "input")) == expected


def test_a_kept_text_belongs_to_its_object_only() -> None:
    batch: dict[str, Any] = {"orders": [{"energyWh": i} for i in range(3)]}
    first = canonical_once(batch)
    assert canonical_once(batch) is first  # the same object: its kept text
    other = {"orders": [{"energyWh": 7}]}
    assert canonical_once(other) == canonical(other) != first
    for i in range(20):  # the kept texts are bounded; a dropped object is encoded again, to the same text
        canonical_once({"n": i})
    assert canonical_once(batch) == first
