"""Canonical JSON text (sorted keys, no spaces, no NaN): what the store writes for its JSON columns and what a
settlement input's digest hashes, with the text of large, immutable values encoded once (issue 13).

A slot's ledger document carries its whole signed batch or settlement input (100,000 orders or readings: tens of
MB of JSON), and the desk stores the document again at every step of the round (each transaction's hash, the
endorsements, the final state), while the batch or input inside stays the very same object. :func:`canonical_once`
keeps the text of the last few such objects by identity (the object is held while kept, so its ``id`` is not
reused meanwhile); :func:`canonical_document` writes a document with those values taken from it. The text is
exactly :func:`canonical`'s, byte for byte. The values must not be changed after they were encoded: the ledger's
documents and a settlement input's ``stored_json`` are read-only by contract.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["canonical", "canonical_document", "canonical_once"]

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)  # built once, not per call
_KEEP = 4  # a slot's batch and a settlement input at once, with room; each may be ~100 MB at 10^5
_kept: OrderedDict[int, tuple[object, str]] = OrderedDict()
_lock = threading.Lock()


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value``."""
    return _ENCODER.encode(value)


def canonical_once(value: Any) -> str:
    """:func:`canonical` of ``value``, encoded once while ``value`` (the same object) is among the last few."""
    key = id(value)
    with _lock:
        hit = _kept.get(key)
        if hit is not None and hit[0] is value:
            _kept.move_to_end(key)
            return hit[1]
    text = _ENCODER.encode(value)
    with _lock:
        _kept[key] = (value, text)
        _kept.move_to_end(key)
        while len(_kept) > _KEEP:
            _kept.popitem(last=False)
    return text


def canonical_document(document: Mapping[str, Any], large: Collection[str]) -> str:
    """:func:`canonical` of a JSON object, the values under the keys ``large`` by :func:`canonical_once`."""
    if not large or not any(k in document for k in large):
        return _ENCODER.encode(dict(document))
    parts = []
    for key in sorted(document):
        value = document[key]
        text = canonical_once(value) if key in large and isinstance(value, Mapping | list) else _ENCODER.encode(value)
        parts.append(f"{_ENCODER.encode(key)}:{text}")
    return "{" + ",".join(parts) + "}"
