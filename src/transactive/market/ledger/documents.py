"""The documents the ledger desk stores per slot (``LedgerSlot.document``), as typed, versioned records.

* :class:`AnchorDocument` (kind ``clearing``): the signed batch, its order root, the on-chain round (transaction
  hashes, result root, endorsements, first miner, dissenters), the endorsed result entries and when it was
  anchored, or the ``note`` saying why it was not.
* :class:`SettlementDocument` (kind ``settlement``): the settlement input
  (:class:`~transactive.settlement.input.SettlementInput`), the settlement mode (1 batch, 2 claims), its digest as
  the order root, the same round fields, and once settled the statement lines, the postings, the DSO's
  breakdown, the claims made and when it was settled.

Layout (version 1, JSON, the keys as the service has always written them; a document without ``version`` is a
version-1 document of an older service)::

    anchor:     {"version": 1, "batch": {...}, "orderRoot": "0x..", "txs": {"open_slot": "0x..", ...},
                 "resultRoot": "0x..", "endorsements": ["0x..", ...], "miner": "0x..", "dissenters": [...],
                 "results": [{"account", "energyWh", "amountMicro"}, ...], "anchoredAt": "...Z", "note": null}
    settlement: {"version": 1, "input": {...}, "mode": 1, "orderRoot": "0x..", "txs": {...}, "resultRoot": ..,
                 "endorsements": [...], "miner": .., "dissenters": [...], "claims": null, "settledAt": "...Z",
                 "lines": [...], "postings": [...], "dso": {...}, "note": null}

Absent optional keys read as their defaults (``None``, ``{}``, ``[]``); ``to_json`` writes only the keys that
are set (and ``note`` once it was set, even to null: ``settle`` clears an earlier ``blocked`` note), so a
document read and written again is the same JSON. An unknown ``version``, a missing required key or a key of
the wrong type is a :class:`DocumentError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from transactive.errors import FieldError
from transactive.settlement.input import InputError, SettlementInput

DOCUMENT_VERSION = 1
"""The version of the stored documents this service writes and reads (absent: 1)."""

__all__ = ["DOCUMENT_VERSION", "AnchorDocument", "DocumentError", "SettlementDocument", "SlotDocument", "StoredResult",
           "now_stamp", "read_rows", "result_rows"]

_UNSET: Any = object()


def now_stamp() -> str:
    """The current UTC time as the stored documents write it (ISO 8601, microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DocumentError(FieldError):
    """A stored ledger document that cannot be read (``field``: the offending key, e.g. ``orderRoot``)."""


def _version(data: Mapping[str, Any], what: str) -> int:
    if not isinstance(data, Mapping):
        raise DocumentError(what, f"must be a JSON object, not {type(data).__name__}")
    version = data.get("version", 1)
    if version != DOCUMENT_VERSION or isinstance(version, bool):
        raise DocumentError("version", f"unknown {what} version {version!r} (this service reads "
                                       f"{DOCUMENT_VERSION})")
    return DOCUMENT_VERSION


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise DocumentError(key, f"must be a string or null, not {type(value).__name__}")
    return value


def _strs(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise DocumentError(key, "must be a list of strings")
    return tuple(value)


def _txs(data: Mapping[str, Any]) -> Mapping[str, str]:
    value = data.get("txs", {})
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise DocumentError("txs", "must map each step to its transaction hash")
    return MappingProxyType(dict(value))


def _rows(data: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any], ...]:
    """The rows as read (not copied: a document is read-only by contract, 100,000 rows at 10^5)."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(type(x) is dict or isinstance(x, Mapping) for x in value):
        raise DocumentError(key, "must be a list of JSON objects")
    return tuple(value)


_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    """A JSON-ready copy (read-only mappings back to dicts, tuples to lists). The exact types are tested first
    (a settled slot's lines and postings: 100,000 rows of nested dicts; an ABC check per value costs more)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict or kind is MappingProxyType or isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _json_rows(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Rows (lines, postings) JSON-ready: a plain ``dict`` row as it is (read or built as JSON, never changed:
    documents are read-only by contract), any other mapping copied (:func:`_plain`)."""
    return [r if type(r) is dict else _plain(r) for r in rows]


@dataclass(frozen=True)
class SlotDocument:
    """The fields both stored documents share: the order root committed on chain and the Proof-of-Clearance
    round's transaction hashes (by step: ``open_and_commit``, or ``open_slot`` and ``commit_orders`` for a
    claims-mode settlement's escrow or an older deployment; ``submit_result`` and ``settle_batch``, or
    ``submit_and_settle`` for a batch-mode settlement slot without a dispute window), result root,
    endorsements (``0x``-hex signatures), first miner and dissenting validators; ``note``: why the slot is
    ``unsupported``, ``refused``, ``failed`` or ``blocked``."""

    order_root: str | None = None
    txs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    result_root: str | None = None
    endorsements: tuple[str, ...] = ()
    miner: str | None = None
    dissenters: tuple[str, ...] = ()
    note: str | None = None
    has_note: bool = field(default=False, compare=False, repr=False)  # ``note`` was written (even as null)
    version: int = DOCUMENT_VERSION

    def with_tx(self: _D, step: str, tx_hash: str) -> _D:
        """This document with the hash of the transaction of ``step`` recorded."""
        return _replace(self, txs=MappingProxyType({**self.txs, step: tx_hash}))

    def with_note(self: _D, note: str | None) -> _D:
        return _replace(self, note=note, has_note=True)

    def to_json(self) -> dict[str, Any]:
        """The stored JSON (each kind writes its own keys)."""
        raise NotImplementedError

    def endorsement_bytes(self) -> tuple[bytes, ...]:
        """The stored endorsements as 65-byte signatures."""
        return tuple(bytes.fromhex(x[2:]) for x in self.endorsements)

    def _round_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version}
        if self.order_root is not None:
            out["orderRoot"] = self.order_root
        out["txs"] = dict(self.txs)
        if self.result_root is not None:
            out["resultRoot"] = self.result_root
        if self.endorsements:
            out["endorsements"] = list(self.endorsements)
        if self.miner is not None:
            out["miner"] = self.miner
        if self.miner is not None or self.dissenters:
            out["dissenters"] = list(self.dissenters)
        if self.note is not None or self.has_note:
            out["note"] = self.note
        return out

    @staticmethod
    def _round_fields(data: Mapping[str, Any]) -> dict[str, Any]:
        return {"order_root": _opt_str(data, "orderRoot"), "txs": _txs(data),
                "result_root": _opt_str(data, "resultRoot"), "endorsements": _strs(data, "endorsements"),
                "miner": _opt_str(data, "miner"), "dissenters": _strs(data, "dissenters"),
                "note": _opt_str(data, "note"), "has_note": "note" in data}


_D = TypeVar("_D", bound=SlotDocument)


def _replace(doc: _D, **changes: Any) -> _D:
    return replace(doc, **changes)


@dataclass(frozen=True)
class StoredResult:
    """One endorsed result entry as the anchor document stores it (``ResultEntry.to_json``: the account EIP-55,
    signed Wh and micro-tokens). Read without re-deriving the checksum (10,000 entries per slot)."""

    account: str
    energy_wh: int
    amount_micro: int

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "energyWh": self.energy_wh, "amountMicro": self.amount_micro}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> StoredResult:
        account = data.get("account")
        if not isinstance(account, str):
            raise DocumentError(f"{where}.account", "must be an address")
        values = []
        for key in ("energyWh", "amountMicro"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise DocumentError(f"{where}.{key}", "must be an integer")
            values.append(value)
        return cls(account, values[0], values[1])


def result_rows(data: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """The stored ``results`` of an anchor document as ``(account, energy_wh, amount_micro)`` rows, checked as
    :meth:`StoredResult.from_json` checks them, without an object per row (100,000 rows at 10^5: the settlement
    input needs the figures only). A row of the exact JSON types is taken as it is; any other goes through
    :meth:`StoredResult.from_json` (its error names the field)."""
    value = data.get("results", [])
    if not isinstance(value, list):
        raise DocumentError("results", "must be a list of JSON objects")
    out = []
    for i, row in enumerate(value):
        if type(row) is dict and type(account := row.get("account")) is str \
                and type(wh := row.get("energyWh")) is int and type(micro := row.get("amountMicro")) is int:
            out.append((account, wh, micro))
        elif isinstance(row, Mapping):
            r = StoredResult.from_json(row, f"results[{i}]")
            out.append((r.account, r.energy_wh, r.amount_micro))
        else:
            raise DocumentError("results", "must be a list of JSON objects")
    return out


def _results(data: Mapping[str, Any]) -> tuple[StoredResult, ...]:
    out = []
    new = StoredResult.__new__
    for account, wh, micro in result_rows(data):
        r = new(StoredResult)  # the frozen dataclass's fields set directly (its __init__ costs ~1 us a row)
        fields = r.__dict__
        fields["account"], fields["energy_wh"], fields["amount_micro"] = account, wh, micro
        out.append(r)
    return tuple(out)


@dataclass(frozen=True)
class AnchorDocument(SlotDocument):
    """The stored anchoring of a cleared slot: ``batch`` (the signed batch's JSON,
    :meth:`~transactive.ledger.audit.proofs.SlotBatch.to_json`; None for a batch that could not be built),
    the endorsed result ``results`` and ``anchored_at`` (ISO 8601 UTC) once anchored."""

    batch: Mapping[str, Any] | None = None
    results: tuple[StoredResult, ...] = ()
    anchored_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.batch is not None:  # as read or built (JSON already; not copied: 10,000 orders)
            out["batch"] = self.batch if isinstance(self.batch, dict) else _plain(self.batch)
        out.update(self._round_json())
        if self.results or self.anchored_at is not None:
            out["results"] = [r.to_json() for r in self.results]
        if self.anchored_at is not None:
            out["anchoredAt"] = self.anchored_at
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, results: bool = True) -> AnchorDocument:
        """Read a stored anchor document (version 1, or without ``version``: the same layout); ``results=False``:
        its endorsed results left unread (empty; :func:`result_rows` reads them as figures)."""
        version = _version(data, "anchor document")
        batch = data.get("batch")
        if batch is not None and not isinstance(batch, Mapping):
            raise DocumentError("batch", "must be a JSON object (a signed batch) or null")
        return cls(**cls._round_fields(data), version=version, batch=batch,
                   results=_results(data) if results else (),
                   anchored_at=_opt_str(data, "anchoredAt"))

    def fund_row(self, fund_account: str) -> StoredResult | None:
        """The endorsed result row of ``fund_account`` (compared case-insensitively), or None."""
        key = fund_account.lower()
        return next((r for r in self.results if r.account.lower() == key), None)


@dataclass(frozen=True)
class SettlementDocument(SlotDocument):
    """The stored settlement of a slot: its ``input`` (committed by its digest, the ``order_root``), ``mode``
    (1: one ``settle_batch``, 2: Merkle claims); once settled, ``settled_at``, the statement ``lines`` (one per
    member, as :func:`~transactive.market.ledger.sequence.sequence_lines` or the format-1 ``statement_lines``
    write them), the ``postings`` (``account``, ``member``, ``energy_wh``, ``amount_micro``), the DSO's
    breakdown ``dso`` and, in claims mode, the number of ``claims`` made."""

    input: SettlementInput = field(default=_UNSET)
    mode: int = 1
    claims: int | None = None
    settled_at: str | None = None
    lines: tuple[Mapping[str, Any], ...] = ()
    postings: tuple[Mapping[str, Any], ...] = ()
    dso: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.input is _UNSET:
            raise DocumentError("input", "is required")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": self.input.stored_json, "mode": self.mode, **self._round_json()}
        if self.claims is not None:
            out["claims"] = self.claims
        if self.settled_at is not None:
            out.update({"settledAt": self.settled_at, "lines": _json_rows(self.lines),
                        "postings": _json_rows(self.postings), "dso": _plain(self.dso)})
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SettlementDocument:
        """Read a stored settlement document (version 1, or without ``version``: the same layout)."""
        version = _version(data, "settlement document")
        if "input" not in data:
            raise DocumentError("input", "is missing")
        try:
            doc = SettlementInput.from_json(data["input"])
        except InputError as exc:
            raise DocumentError(f"input.{exc.field}", exc.message) from exc
        mode = data.get("mode")
        if mode not in (1, 2) or isinstance(mode, bool):
            raise DocumentError("mode", f"must be 1 (batch) or 2 (claims), not {mode!r}")
        claims = data.get("claims")
        if claims is not None and (not isinstance(claims, int) or isinstance(claims, bool)):
            raise DocumentError("claims", "must be an integer or null")
        dso = data.get("dso")
        if dso is not None and not isinstance(dso, Mapping):
            raise DocumentError("dso", "must be a JSON object or null")
        return cls(**cls._round_fields(data), version=version, input=doc, mode=mode, claims=claims,
                   settled_at=_opt_str(data, "settledAt"), lines=_rows(data, "lines"),
                   postings=_rows(data, "postings"), dso=None if dso is None else MappingProxyType(dict(dso)))

    def lines_of(self, member: str) -> list[Mapping[str, Any]]:
        """The statement lines of ``member`` (member id)."""
        return [ln for ln in self.lines if ln.get("member") == member]


def read_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Plain (mutable, JSON-ready) copies of stored rows (lines, postings) for an API answer."""
    return [_plain(r) for r in rows]
