"""The stored slot batch and JSON inclusion proofs (the pieces behind ``transactive ledger proof``).

A **slot batch** (``transactive.ledger-batch/3``; ``/2`` and ``/1`` for older archives) is what the
auctioneer publishes for one slot: the domain, the slot, the signed orders in batch order, the ``market``
block (mechanism, params, DSO), the result entries, optionally the roots (checked on load) and the
validators' endorsement signatures. In format 3 the order root commits to the market block as well (its
last leaf, :func:`~transactive.ledger.messages.commitments.market_struct_hash`); formats 1 and 2 are read
and verified by their own rule (the root over the orders and attributes only) and written back as read.
An **inclusion proof** (``transactive.merkle-proof/1``) is a self-contained JSON document that anyone can check with
:func:`verify_proof` against a root (taken from the proof, or -- better -- from the chain with
``expected_root``). Formats: ``docs/ledger.md``.

Example:
    >>> from transactive.crypto.signing import Signer
    >>> from transactive.ledger.messages.orders import OrderMessage, sign_order
    >>> alice = Signer(bytes(31) + b"\\x07")
    >>> domain = Domain(chain_id=31337, verifying_contract="0x" + "42" * 20)
    >>> order = sign_order(alice, OrderMessage(alice.address, 3, 1, 2000, 150000, 0), domain)
    >>> batch = SlotBatch(domain, 3, (order,), (ResultEntry(alice.address, -2000, -300000),))
    >>> verify_proof(order_proof(batch, alice.address, 0), expected_root=batch.order_root)[:14]
    'valid order of'
    >>> verify_proof(result_proof(batch, alice.address))[:15]
    'valid result of'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from transactive._bulk import gc_paused
from transactive.crypto.eip712 import Domain
from transactive.crypto.encoding import EncodingError, from_hex, hex0x, parse_address, to_checksum_address
from transactive.crypto.merkle import MerkleTree, leaf_hash_of_encoded, process_proof
from transactive.crypto.signing import SignatureError, WorkerPool, recover_address_bytes
from transactive.ledger.messages.attributes import SignedAttributes, verify_batch
from transactive.ledger.messages.commitments import (
    ORDER_LEAF_TYPES,
    RESULT_LEAF_TYPES,
    ResultEntry,
    check_one_entry_per_account,
    market_leaf,
    market_struct_hash,
    order_tree,
    result_leaf,
    result_tree,
)
from transactive.ledger.messages.orders import OrderError, SignedOrder

EXIT_INVALID_PROOF = 2
"""Exit code for an invalid or unreadable proof (the CLI's "invalid input" code)."""
BATCH_FORMAT = "transactive.ledger-batch/3"
BATCH_FORMAT_V2 = "transactive.ledger-batch/2"
"""Older batches: version-2 orders, the market block not committed by the order root (read, written back as read)."""
BATCH_FORMAT_V1 = "transactive.ledger-batch/1"
"""Older batches: version-1 orders and separately signed attributes records (read, and written back as read)."""
_FORMATS = {BATCH_FORMAT: (2, True), BATCH_FORMAT_V2: (2, False), BATCH_FORMAT_V1: (1, False)}
"""format -> (message version, whether the order root commits to the market block)."""
PROOF_FORMAT = "transactive.merkle-proof/1"

__all__ = [
    "BATCH_FORMAT",
    "BATCH_FORMAT_V2",
    "EXIT_INVALID_PROOF",
    "PROOF_FORMAT",
    "Domain",
    "ProofError",
    "ResultEntry",
    "SlotBatch",
    "attributes_proof",
    "audit_batch",
    "load_batch",
    "make_proof",
    "market_proof",
    "order_proof",
    "proofs_for",
    "result_proof",
    "save_batch",
    "verify_proof",
    "verify_proof_file",
]


class ProofError(ValueError):
    """An invalid proof or batch; the message says what failed."""


@dataclass(frozen=True)
class SlotBatch:
    """One slot's published batch: orders in batch order, at most one result entry per account.

    ``commits_market``: whether the order root commits to the market block (format 3); None (the default)
    means yes unless the batch holds version-1 messages (formats 1 and 2, read from older archives: False)."""

    domain: Domain
    slot: int
    orders: tuple[SignedOrder, ...]
    results: tuple[ResultEntry, ...] = ()
    endorsements: tuple[bytes, ...] = ()
    mechanism: str | None = None
    params: Mapping[str, Any] | None = None
    attributes: tuple[SignedAttributes, ...] = ()
    dso: str | None = None
    commits_market: bool | None = None
    _trees: dict[str, MerkleTree] = field(default_factory=dict, init=False, repr=False, compare=False)
    _versions: frozenset[int] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "orders", tuple(self.orders))
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "endorsements", tuple(self.endorsements))
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "_versions", frozenset({o.message.version for o in self.orders}
                                                        | {1 if a.signature else 2 for a in self.attributes}))
        if len(self.versions()) > 1:
            raise ProofError(f"slot {self.slot}: version-1 and version-2 messages in one batch")
        if self.commits_market is None:
            object.__setattr__(self, "commits_market", not self.is_version_1())
        elif self.commits_market and self.is_version_1():
            raise ProofError(f"slot {self.slot}: a batch committing its market block needs version-2 messages")
        if self.dso is not None:
            try:
                object.__setattr__(self, "dso", to_checksum_address(parse_address(self.dso)))
            except EncodingError as exc:
                raise ProofError(f"slot {self.slot}: dso: {exc}") from exc
        try:
            check_one_entry_per_account(self.results)
        except ValueError as exc:
            raise ProofError(f"slot {self.slot}: {exc}") from exc

    @property
    def order_tree(self) -> MerkleTree:
        if "order" not in self._trees:
            self._trees["order"] = order_tree([o.message for o in self.orders], [a.message for a in self.attributes],
                                              self.market_hash if self.commits_market else None)
        return self._trees["order"]

    @property
    def market_hash(self) -> bytes:
        """``hashStruct(Market)`` of the batch's market block (:func:`market_struct_hash`): the order tree's
        last leaf in format 3; ``ProofError`` for params JSON cannot carry."""
        try:
            return market_struct_hash(self.slot, self.mechanism, self.params, self.dso)
        except EncodingError as exc:
            raise ProofError(f"slot {self.slot}: {exc}") from exc

    @property
    def result_tree(self) -> MerkleTree:
        if "result" not in self._trees:
            self._trees["result"] = result_tree(self.slot, self.results)
        return self._trees["result"]

    def endorsed(self, results: Sequence[ResultEntry], endorsements: Sequence[bytes]) -> SlotBatch:
        """This batch with its result entries and endorsement signatures filled in; the order tree (orders,
        attributes and market block unchanged) is carried over, not hashed again."""
        out = replace(self, results=tuple(results), endorsements=tuple(endorsements))
        if "order" in self._trees:
            out._trees["order"] = self._trees["order"]
        return out

    @property
    def order_root(self) -> bytes:
        return self.order_tree.root

    @property
    def result_root(self) -> bytes:
        return self.result_tree.root

    def to_json(self) -> dict[str, Any]:
        """The batch document (roots included): ``transactive.ledger-batch/3``, or the ``/2`` or ``/1`` a batch
        read from an older archive was in (built with the cyclic garbage collector paused: a dict per order)."""
        with gc_paused():
            return {
                "format": self.format,
                "domain": self.domain.as_dict(),
                "slot": self.slot,
                "orderRoot": hex0x(self.order_root),
                "resultRoot": hex0x(self.result_root),
                "orders": [o.to_json() for o in self.orders],
            } | ({"attributes": [a.to_json() for a in self.attributes]} if self.attributes else {}) | {
                "results": [r.to_json() for r in self.results],
                "endorsements": [hex0x(s) for s in self.endorsements],
            } | self._market_json()

    @property
    def format(self) -> str:
        """The batch's file format: 3 (market block committed), 2 or 1 (older archives)."""
        if self.is_version_1():
            return BATCH_FORMAT_V1
        return BATCH_FORMAT if self.commits_market else BATCH_FORMAT_V2

    def versions(self) -> set[int]:
        """The message versions of the batch: 2 (orders with ``attributesHash``, attributes covered by them),
        1 (version-1 orders, attributes signed on their own); one of them in a well-formed batch."""
        return set(self._versions)  # computed once, on construction

    def is_version_1(self) -> bool:
        """True for a batch of version-1 messages (every order without ``attributesHash``, every attributes
        record signed on its own), as archived before issue 13."""
        return self.versions() == {1}

    def _market_json(self) -> dict[str, Any]:
        """The optional ``market`` member: mechanism name, raw JSON params and the DSO account (for
        recomputation)."""
        if self.mechanism is None:
            return {}
        market: dict[str, Any] = {"mechanism": self.mechanism, "params": dict(self.params or {})}
        if self.dso is not None:
            market["dso"] = self.dso
        return {"market": market}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlotBatch:
        """Parse a batch document; stated roots must match the recomputed ones (the messages built with the
        cyclic garbage collector paused: several objects per order)."""
        with gc_paused():
            return cls._from_json(data)

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> SlotBatch:
        found = _FORMATS.get(data.get("format"))  # type: ignore[arg-type]
        if found is None:
            raise ProofError(f"not a {BATCH_FORMAT} (or {BATCH_FORMAT_V2}, {BATCH_FORMAT_V1}) document "
                             f"(format = {data.get('format')!r})")
        version, commits_market = found
        market = data.get("market")
        if market is not None and (not isinstance(market, Mapping) or not isinstance(market.get("mechanism"), str)
                                   or not isinstance(market.get("params", {}), Mapping)
                                   or not isinstance(market.get("dso", ""), str)):
            raise ProofError("malformed batch: market must be {'mechanism': str, 'params': {...}, 'dso': address}")
        if not isinstance(data.get("attributes", []), list):
            raise ProofError("malformed batch: attributes must be a list")
        try:
            batch = cls(
                Domain.from_dict(data["domain"]),
                int(data["slot"]),
                tuple(SignedOrder.from_json(o) for o in data.get("orders", [])),
                tuple(ResultEntry.from_json(r) for r in data.get("results", [])),
                tuple(from_hex(s, 65, what="endorsement") for s in data.get("endorsements", [])),
                None if market is None else str(market["mechanism"]),
                None if market is None else dict(market.get("params", {})),
                tuple(SignedAttributes.from_json(a) for a in data.get("attributes", [])),
                None if market is None or market.get("dso") is None else str(market["dso"]),
                commits_market=commits_market,
            )
        except (KeyError, TypeError, EncodingError, OrderError) as exc:
            raise ProofError(f"malformed batch: {exc}") from exc
        if batch.versions() - {version}:
            raise ProofError(f"malformed batch: {data['format']} needs version-{version} messages (orders "
                             + ("without attributesHash, attributes signed on their own)" if version == 1
                                else "with attributesHash, attributes without their own signature)"))
        for key, root in (("orderRoot", batch.order_root), ("resultRoot", batch.result_root)):
            if key in data and from_hex(data[key], 32, what=key) != root:
                raise ProofError(f"{key} {data[key]} does not match the batch (recomputed {hex0x(root)})")
        return batch


def load_batch(path: str | Path) -> SlotBatch:
    """Read a batch file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProofError(f"cannot read batch {path}: {exc}") from exc
    return SlotBatch.from_json(data)


def save_batch(batch: SlotBatch, path: str | Path) -> None:
    """Write a batch file (indented JSON)."""
    Path(path).write_text(json.dumps(batch.to_json(), indent=1) + "\n", encoding="utf-8")


def audit_batch(batch: SlotBatch, *, pool: WorkerPool | None = None) -> list[str]:
    """Problems found in a batch (empty when sound): orders or attributes for another slot, bad signatures,
    attributes no signature covers, repeated nonces (:func:`verify_batch`; in parallel for large batches)."""
    return verify_batch(batch.orders, batch.attributes, batch.domain, slot=batch.slot, pool=pool).problems()


# --------------------------------------------------------------------------- making proofs
def _proof_doc(batch: SlotBatch, kind: str, tree: MerkleTree, k: int, value: list[Any]) -> dict[str, Any]:
    return {
        "format": PROOF_FORMAT,
        "kind": kind,
        "domain": batch.domain.as_dict(),
        "slot": batch.slot,
        "root": hex0x(tree.root),
        "index": k,
        "leafEncoding": list(RESULT_LEAF_TYPES if kind == "result" else ORDER_LEAF_TYPES),
        "value": value,
        "leaf": hex0x(tree.leaf(k)),
        "proof": [hex0x(p) for p in tree.proof(k)],
    }


def order_proof(batch: SlotBatch, trader: str, nonce: int) -> dict[str, Any]:
    """Inclusion proof of ``trader``'s order with ``nonce`` (``LookupError`` if the batch has none)."""
    raw = parse_address(trader)
    for k, order in enumerate(batch.orders):
        m = order.message
        if m.trader_bytes == raw and m.nonce == nonce:
            doc = _proof_doc(batch, "order", batch.order_tree, k, [hex0x(m.struct_hash())])
            doc["order"] = order.to_json()
            return doc
    raise LookupError(f"slot {batch.slot}: no order of {trader} with nonce {nonce}")


def attributes_proof(batch: SlotBatch, trader: str) -> dict[str, Any]:
    """Inclusion proof of ``trader``'s signed attributes in the order tree (``LookupError`` if none); the
    leaf's position is ``len(orders) + j`` for the ``j``-th attributes record."""
    raw = parse_address(trader)
    for j, record in enumerate(batch.attributes):
        m = record.message
        if m.trader_bytes == raw:
            k = len(batch.orders) + j
            doc = _proof_doc(batch, "attributes", batch.order_tree, k, [hex0x(m.struct_hash())])
            doc["attributes"] = record.to_json()
            if record.signature is None:  # version 2: the trader's signed order that commits to them
                cover = next((o for o in batch.orders if o.message.trader_bytes == raw
                              and o.message.attributes_hash == m.struct_hash()), None)
                if cover is None:
                    raise LookupError(f"slot {batch.slot}: no signed order of {trader} covers its attributes")
                doc["order"] = cover.to_json()
            return doc
    raise LookupError(f"slot {batch.slot}: no attributes of {trader}")


def market_proof(batch: SlotBatch) -> dict[str, Any]:
    """Inclusion proof of the batch's ``market`` block (mechanism, params, DSO) in the order tree: its leaf is
    the last one (format 3); ``LookupError`` for a format-1 or -2 batch, whose root does not commit to it."""
    if not batch.commits_market:
        raise LookupError(f"slot {batch.slot}: a {batch.format} batch does not commit its market block")
    k = len(batch.orders) + len(batch.attributes)
    doc = _proof_doc(batch, "market", batch.order_tree, k, [hex0x(batch.market_hash)])
    doc["market"] = {"mechanism": batch.mechanism, "params": dict(batch.params or {}), "dso": batch.dso}
    return doc


def result_proof(batch: SlotBatch, account: str) -> dict[str, Any]:
    """Inclusion proof of ``account``'s result entry (``LookupError`` if the batch has none)."""
    raw = parse_address(account)
    matches = [k for k, e in enumerate(batch.results) if e.account_bytes == raw]
    if not matches:
        raise LookupError(f"slot {batch.slot}: no result entry for {account}")
    k = matches[0]
    e = batch.results[k]
    return _proof_doc(batch, "result", batch.result_tree, k, list(e.values(batch.slot)))


# --------------------------------------------------------------------------- verifying proofs
def _hash_list(items: Any, what: str) -> list[bytes]:
    if not isinstance(items, list):
        raise ProofError(f"{what} must be a list of 32-byte hex strings")
    return [from_hex(x, 32, what=what) for x in items]


def _signed_leaf(what: str, message: Any, signature: bytes | None, value: Any, *, slot: int, domain: Domain
                 ) -> bytes:
    """The leaf of a signed order tree record (an order or an attributes record, ``what``): its ``value`` must
    be ``[struct hash]`` of the ``message``, the message for ``slot`` and signed by its trader under
    ``domain`` (``signature`` None: checked by the caller, the record being covered by a signed order);
    :class:`ProofError` says which of these fails."""
    struct_hash = message.struct_hash()
    if not isinstance(value, list) or len(value) != 1 or from_hex(value[0], 32) != struct_hash:
        raise ProofError(f"value is not the struct hash of the {what} fields")
    if message.slot != slot:
        raise ProofError(f"the {what} {'is' if what == 'order' else 'are'} for slot {message.slot}, "
                         f"the proof for slot {slot}")
    if signature is None:
        return leaf_hash_of_encoded(struct_hash)
    try:
        signer = recover_address_bytes(message.digest(domain), signature)
    except SignatureError as exc:
        raise ProofError(f"bad {what} signature: {exc}") from exc
    if signer != message.trader_bytes:
        raise ProofError(f"the {what} signature is not the trader's under this domain")
    return leaf_hash_of_encoded(struct_hash)


def verify_proof(doc: Mapping[str, Any], *, expected_root: bytes | None = None) -> str:
    """Check an inclusion proof; return a one-line summary, raise :class:`ProofError` saying what failed.

    Checks: the format; the leaf value against the order fields (struct hash, slot) or the result fields;
    the order's signature under the proof's domain; the leaf hash; the Merkle path to ``root``; and
    ``root == expected_root`` when given (pass the root stored on chain).
    """
    if doc.get("format") != PROOF_FORMAT:
        raise ProofError(f"not a {PROOF_FORMAT} document (format = {doc.get('format')!r})")
    kind = doc.get("kind")
    try:
        domain = Domain.from_dict(doc["domain"])
        slot = int(doc["slot"])
        root = from_hex(doc["root"], 32, what="root")
        leaf = from_hex(doc["leaf"], 32, what="leaf")
        proof = _hash_list(doc["proof"], "proof")
        value = doc["value"]
        if kind == "order":
            order = SignedOrder.from_json(doc["order"])
            computed_leaf = _signed_leaf("order", order.message, order.signature, value, slot=slot, domain=domain)
            who = f"order of {order.message.trader} nonce {order.message.nonce}"
        elif kind == "attributes":
            record = SignedAttributes.from_json(doc["attributes"])
            if record.signature is None:  # version 2: covered by the trader's signed order, shown with it
                cover = SignedOrder.from_json(doc["order"])
                if cover.message.trader_bytes != record.message.trader_bytes or \
                        cover.message.attributes_hash != record.message.struct_hash():
                    raise ProofError("the attributes' struct hash is not the attributesHash the trader's signed "
                                     "order commits to")
                _signed_leaf("order", cover.message, cover.signature, [hex0x(cover.message.struct_hash())],
                             slot=slot, domain=domain)
                computed_leaf = _signed_leaf("attributes", record.message, None, value, slot=slot, domain=domain)
            else:
                computed_leaf = _signed_leaf("attributes", record.message, record.signature, value, slot=slot,
                                             domain=domain)
            who = f"attributes of {record.message.trader} (bus {record.message.bus!r})"
        elif kind == "result":
            if not isinstance(value, list) or len(value) != 4:
                raise ProofError("a result value is [slot, account, energyWh, amountMicro]")
            if int(value[0]) != slot:
                raise ProofError(f"the result is for slot {value[0]}, the proof for slot {slot}")
            entry = ResultEntry(str(value[1]), value[2], value[3])
            computed_leaf = result_leaf(slot, entry)
            who = f"result of {entry.account} ({entry.energy_wh} Wh, {entry.amount_micro} micro)"
        elif kind == "market":
            market = doc["market"]
            if not isinstance(market, Mapping) or not isinstance(market.get("params") or {}, Mapping):
                raise ProofError("market must be {'mechanism', 'params': {...}, 'dso'}")
            struct_hash = market_struct_hash(slot, market.get("mechanism"), market.get("params"), market.get("dso"))
            if not isinstance(value, list) or len(value) != 1 or from_hex(value[0], 32) != struct_hash:
                raise ProofError("value is not the struct hash of the market block (mechanism, params, dso)")
            computed_leaf = market_leaf(struct_hash)
            who = f"market block (mechanism {market.get('mechanism')!r}, DSO {market.get('dso')})"
        else:
            raise ProofError(f"kind must be 'order', 'attributes', 'market' or 'result', got {kind!r}")
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProofError):
            raise
        raise ProofError(f"malformed proof: {exc}") from exc
    if computed_leaf != leaf:
        raise ProofError(f"leaf {hex0x(leaf)} does not match the value (expected {hex0x(computed_leaf)})")
    computed_root = process_proof(leaf, proof)
    if computed_root != root:
        raise ProofError(f"the proof leads to {hex0x(computed_root)}, not to the root {hex0x(root)}")
    if expected_root is not None and root != expected_root:
        raise ProofError(f"root {hex0x(root)} is not the expected root {hex0x(expected_root)}")
    return f"valid {who} in slot {slot}, root {hex0x(root)}"


def verify_proof_file(path: str | Path, *, expected_root: str | None = None) -> tuple[int, str]:
    """For the CLI: ``(exit code, message)``: 0 and a summary when valid, :data:`EXIT_INVALID_PROOF` (2)
    and ``invalid proof: <reason>`` otherwise."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise ProofError("a proof is a JSON object")
        root = from_hex(expected_root, 32, what="expected root") if expected_root is not None else None
        return 0, verify_proof(doc, expected_root=root)
    except (OSError, json.JSONDecodeError) as exc:
        return EXIT_INVALID_PROOF, f"invalid proof: cannot read {path}: {exc}"
    except (ProofError, EncodingError) as exc:
        return EXIT_INVALID_PROOF, f"invalid proof: {exc}"


def make_proof(batch: SlotBatch, kind: str, account: str, *, nonce: int | None = None) -> dict[str, Any]:
    """For the CLI: an ``order`` proof (needs ``nonce``), an ``attributes`` or a ``result`` proof of
    ``account``, or the ``market`` proof of the batch (``account`` unused)."""
    if kind == "market":
        return market_proof(batch)
    if kind == "attributes":
        return attributes_proof(batch, account)
    if kind == "order":
        if nonce is None:
            raise ValueError("an order proof needs the order's nonce")
        return order_proof(batch, account, nonce)
    if kind == "result":
        return result_proof(batch, account)
    raise ValueError(f"kind must be 'order', 'attributes', 'market' or 'result', got {kind!r}")


def proofs_for(batch: SlotBatch, account: str) -> list[dict[str, Any]]:
    """Every proof concerning ``account`` in the batch: its orders (batch order), its attributes, then its
    result entry."""
    raw = parse_address(account)
    out = [
        order_proof(batch, account, o.message.nonce) for o in batch.orders if o.message.trader_bytes == raw
    ]
    if any(a.message.trader_bytes == raw for a in batch.attributes):
        out.append(attributes_proof(batch, account))
    if any(e.account_bytes == raw for e in batch.results):
        out.append(result_proof(batch, account))
    return out
