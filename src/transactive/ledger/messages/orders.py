"""Signed orders: :class:`~transactive.orders.Orders` <-> EIP-712 ``Order`` messages, signing, verification.

One ``Order`` message is one **block** ``(energy, price)`` of one participant on one side of one slot:
``energyWh`` = :func:`~transactive.units.energy_to_wh` of the block's kWh, ``priceMicroPerKwh`` =
:func:`~transactive.units.money_to_micro` of its tokens/kWh (ties to even). A negative price cannot be
signed (the field is ``uint256``); ``side`` is 0 (sell) or 1 (buy). A participant with several blocks signs
several orders with distinct nonces.

Verification (:func:`verify_orders`) checks, per order: the fields are in range, the slot is the expected
one, the signature is canonical and recovers to ``trader`` under the given domain (so a wrong chain id or
contract fails), and -- last, in batch order -- the nonce is unused in the :class:`NonceStore` (then it is
marked used; a repeated ``(trader, nonce)`` later in the same batch is a replay). The signatures are
batch-verified against the traders' public keys seen in earlier batches and recovered otherwise
(:mod:`transactive.crypto.verification`: the same verdicts), in a pool for large batches
(:class:`~transactive.crypto.signing.WorkerPool`).

Decoding (:func:`messages_to_orders`) groups a verified batch back into sellers and buyers: participants in
order of first appearance in the batch, blocks in batch order, ids = EIP-55 trader addresses. The batch
list order is therefore the submission (time-priority) order that breaks price ties; it travels in the
published batch file (the order tree's root commits to the set of orders, not to their order).

Example:
    >>> from transactive.crypto.signing import Signer
    >>> signer = Signer(bytes(31) + b"\\x02")
    >>> domain = Domain(chain_id=31337, verifying_contract="0x" + "42" * 20)
    >>> message = OrderMessage.from_kwh(signer.address, slot=5, side=SIDE_SELL, energy_kwh=1.5,
    ...                                 price_per_kwh=0.2023, nonce=0)
    >>> message.energy_wh, message.price_micro_per_kwh
    (1500, 202300)
    >>> batch = verify_orders([sign_order(signer, message, domain)], domain, slot=5)
    >>> len(batch.accepted), batch.rejected
    (1, [])
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transactive.crypto.eip712 import (
    DOMAIN_FIELDS,
    ORDER_FIELDS,
    ORDER_V1_FIELDS,
    SIDE_BUY,
    SIDE_SELL,
    Domain,
    digest_of,
    order_struct_hash,
)
from transactive.crypto.encoding import (
    ZERO32,
    EncodingError,
    canonical_address,
    from_hex,
    hex0x,
    parse_address,
    to_checksum_address,
)
from transactive.crypto.signing import Signer, WorkerPool, addresses_of, sign_digests
from transactive.crypto.verification import Row, start_verifying_signers, verify_signers
from transactive.errors import FieldError
from transactive.ledger.messages.nonces import NonceStore, ReplayError
from transactive.orders import Orders
from transactive.units import MICRO_PER_TOKEN, WH_PER_KWH, energy_to_wh, money_to_micro

__all__ = [
    "SIDE_BUY",
    "SIDE_SELL",
    "Domain",
    "OrderError",
    "OrderMessage",
    "SignedOrder",
    "VerifiedBatch",
    "messages_to_orders",
    "orders_to_messages",
    "recover_order_signers",
    "sign_order",
    "sign_orders",
    "signature_of",
    "signature_rows",
    "start_recovering_order_signers",
    "trader_address",
    "verify_order",
    "verify_orders",
]


class OrderError(FieldError):
    """An order that cannot be built or was rejected; its ``field`` is the short code of the check that failed
    (``reason``: ``signature``, ``nonce``, ``slot``, ``domain``, ``field``; see ``docs/ledger.md``)."""

    @property
    def reason(self) -> str:
        """The short code of the failed check (the error's ``field``)."""
        return self.field


def trader_address(message: Any) -> None:
    """Set a message's ``trader`` (EIP-55 string) and ``trader_bytes`` (20 bytes) from the address string it
    was built with (a mixed-case one must carry a valid EIP-55 checksum): the one address check of every
    message (orders and attributes records), :class:`OrderError` naming ``trader`` otherwise. One memoised
    look-up per message (:func:`~transactive.crypto.encoding.canonical_address`: the string parsed and the
    checksum computed once per trader and process, not once per message)."""
    trader = message.trader
    try:
        if type(trader) is str:
            text, raw = canonical_address(trader)
        else:
            raw = parse_address(trader)  # raises: names the type
            text = to_checksum_address(raw)
    except EncodingError as exc:
        raise OrderError("field", f"trader: {exc}") from exc
    object.__setattr__(message, "trader_bytes", raw)
    object.__setattr__(message, "trader", text)


def _check_uint(name: str, value: int, bits: int = 256) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OrderError("field", f"{name} must be an integer, got {type(value).__name__}")
    if value < 0 or value >> bits:
        raise OrderError("field", f"{name} = {value} is outside uint{bits}")


@dataclass(frozen=True)
class OrderMessage:
    """The EIP-712 ``Order`` message (integer base units).

    Attributes:
        trader: the signer's address (stored in EIP-55 form).
        slot: market slot number.
        side: 0 = sell, 1 = buy.
        energy_wh: block energy, Wh (>= 0).
        price_micro_per_kwh: limit price, micro-tokens per kWh (>= 0): the lowest for a seller, the highest
            for a buyer.
        nonce: unique per trader within the domain.
        attributes_hash: ``hashStruct(Attributes)`` of the trader's attributes for the slot (32 bytes, zero when
            the mechanism reads none): the one signature covers them (message version 2). None: a version-1
            order (no such field; its attributes were signed separately), read from older archives.
    """

    trader: str
    slot: int
    side: int
    energy_wh: int
    price_micro_per_kwh: int
    nonce: int
    attributes_hash: bytes | None = ZERO32
    trader_bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        trader_address(self)
        slot, wh, micro, nonce = self.slot, self.energy_wh, self.price_micro_per_kwh, self.nonce
        if not (type(slot) is int and type(wh) is int and type(micro) is int and type(nonce) is int
                and min(slot, wh, micro, nonce) >= 0 and (slot | wh | micro | nonce) >> 256 == 0):
            for name in ("slot", "energy_wh", "price_micro_per_kwh", "nonce"):  # which one, and why
                _check_uint(name, getattr(self, name))
        if self.side not in (SIDE_SELL, SIDE_BUY) or isinstance(self.side, bool):
            raise OrderError("field", f"side must be 0 (sell) or 1 (buy), got {self.side!r}")
        h = self.attributes_hash
        if h is not None and (not isinstance(h, bytes) or len(h) != 32):
            raise OrderError("field", f"attributesHash must be 32 bytes, got {h!r}")

    @property
    def version(self) -> int:
        """Message version: 2 (attributes covered by this signature) or 1 (older archives)."""
        return 1 if self.attributes_hash is None else 2

    @classmethod
    def from_kwh(
        cls, trader: str, *, slot: int, side: int, energy_kwh: float, price_per_kwh: float, nonce: int,
        attributes_hash: bytes = ZERO32,
    ) -> OrderMessage:
        """Build from float kWh and tokens/kWh (rounded to Wh and micro-tokens/kWh; negatives rejected)."""
        if not price_per_kwh >= 0:
            raise OrderError("field", f"price_per_kwh must be >= 0 to be signed, got {price_per_kwh!r}")
        if not energy_kwh >= 0:
            raise OrderError("field", f"energy_kwh must be >= 0, got {energy_kwh!r}")
        return cls(trader, slot, side, energy_to_wh(energy_kwh), money_to_micro(price_per_kwh), nonce,
                   attributes_hash)

    @property
    def energy_kwh(self) -> float:
        return self.energy_wh / WH_PER_KWH

    @property
    def price_per_kwh(self) -> float:
        return self.price_micro_per_kwh / MICRO_PER_TOKEN

    def struct_hash(self) -> bytes:
        """EIP-712 ``hashStruct(Order)`` (also the value of the order's Merkle leaf); computed once (kept in the
        instance: the signing, the verification and the order tree share it)."""
        found: bytes | None = self.__dict__.get("_struct_hash")
        if found is None:
            found = order_struct_hash(self.trader_bytes, self.slot, self.side, self.energy_wh,
                                      self.price_micro_per_kwh, self.nonce, self.attributes_hash)
            self.__dict__["_struct_hash"] = found
        return found

    def digest(self, domain: Domain) -> bytes:
        """The 32-byte digest signed under ``domain``."""
        return digest_of(domain.separator, self.struct_hash())

    def as_eip712(self) -> dict[str, Any]:
        """The EIP-712 message (camelCase field names, integers; ``attributesHash`` hex, version 2 only)."""
        out: dict[str, Any] = {
            "trader": self.trader,
            "slot": self.slot,
            "side": self.side,
            "energyWh": self.energy_wh,
            "priceMicroPerKwh": self.price_micro_per_kwh,
            "nonce": self.nonce,
        }
        if self.attributes_hash is not None:
            out["attributesHash"] = hex0x(self.attributes_hash)
        return out

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full EIP-712 document (``types``, ``primaryType``, ``domain``, ``message``) a wallet signs
        with ``eth_signTypedData_v4``; integers above 2^53 should be sent as decimal strings to browsers."""
        order_fields = ORDER_V1_FIELDS if self.attributes_hash is None else ORDER_FIELDS
        return {
            "types": {
                name: [{"name": f, "type": t} for f, t in fields]
                for name, fields in (("EIP712Domain", DOMAIN_FIELDS), ("Order", order_fields))
            },
            "primaryType": "Order",
            "domain": domain.as_dict(),
            "message": self.as_eip712(),
        }

    @classmethod
    def from_eip712(cls, data: Mapping[str, Any]) -> OrderMessage:
        """Inverse of :meth:`as_eip712` (missing or mistyped fields raise :class:`OrderError`); without
        ``attributesHash`` the message is a version-1 order."""
        try:
            raw = data.get("attributesHash")
            attributes_hash = None if raw is None else from_hex(raw, 32, what="attributesHash")
            return cls(
                str(data["trader"]),
                data["slot"],
                data["side"],
                data["energyWh"],
                data["priceMicroPerKwh"],
                data["nonce"],
                attributes_hash,
            )
        except KeyError as exc:
            raise OrderError("field", f"missing order field {exc.args[0]!r}") from exc
        except EncodingError as exc:
            raise OrderError("field", str(exc)) from exc


@dataclass(frozen=True)
class SignedOrder:
    """An order message with its 65-byte ``r ‖ s ‖ v`` signature."""

    message: OrderMessage
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        """The message fields plus ``signature`` (hex)."""
        out = self.message.as_eip712()
        out["signature"] = hex0x(self.signature)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedOrder:
        """Inverse of :meth:`to_json`."""
        signature = signature_of(data, "order")
        return cls(OrderMessage.from_eip712(data), signature)


def signature_of(data: Mapping[str, Any], what: str) -> bytes:
    """The 65-byte ``signature`` (hex) of a signed message's JSON (``what`` names the message in errors)."""
    if not isinstance(data, Mapping) or "signature" not in data:
        raise OrderError("field", f"missing {what} field 'signature'")
    try:
        return from_hex(data["signature"], 65, what="signature")
    except EncodingError as exc:
        raise OrderError("field", str(exc)) from exc


def _check_signer(address: bytes, message: OrderMessage) -> None:
    if address != message.trader_bytes:
        raise OrderError("signer", f"signer {to_checksum_address(address)} is not the trader {message.trader}")


def sign_order(signer: Signer, message: OrderMessage, domain: Domain) -> SignedOrder:
    """Sign ``message`` under ``domain``; the signer must be the message's trader."""
    _check_signer(signer.address_bytes, message)
    return SignedOrder(message, signer.sign_digest(message.digest(domain)))


def sign_orders(private_keys: Sequence[bytes], messages: Sequence[OrderMessage], domains: Sequence[Domain],
                *, pool: WorkerPool | None = None) -> list[SignedOrder]:
    """:func:`sign_order` of many messages with 32-byte private keys, each under its domain: every key must be
    its message's trader (addresses memoised per process, :func:`~transactive.crypto.signing.addresses_of`);
    the signatures are byte-identical to :func:`sign_order`'s (RFC 6979), made on ``pool`` or on threads of
    this process (:func:`~transactive.crypto.signing.sign_digests`: no key objects)."""
    if not len(private_keys) == len(messages) == len(domains):
        raise ValueError("one private key and one domain per message")
    for address, message in zip(addresses_of(private_keys, pool=pool), messages, strict=True):
        _check_signer(address, message)
    digests = [digest_of(d.separator, m.struct_hash()) for d, m in zip(domains, messages, strict=True)]
    signatures = sign_digests(private_keys, digests, pool=pool)
    return [SignedOrder(m, sig) for m, sig in zip(messages, signatures, strict=True)]


# --------------------------------------------------------------------------- verification
def signature_rows(orders: Sequence[SignedOrder], domain: Domain) -> list[Row]:
    """``(digest, signature, trader)`` of each order under ``domain`` (20-byte trader): what the workers
    verify (:mod:`transactive.crypto.verification`; the struct hashes are computed once per message and shared
    with the order tree)."""
    separator = domain.separator
    return [(digest_of(separator, o.message.struct_hash()), o.signature, o.message.trader_bytes) for o in orders]


def recover_order_signers(
    orders: Sequence[SignedOrder],
    domain: Domain,
    *,
    pool: WorkerPool | None = None,
    workers: int | None = None,
) -> list[bytes | None]:
    """The 20-byte address each order's signature recovers to under ``domain`` (None where invalid):
    batch-verified against the traders' public keys seen before, recovered otherwise (the same result,
    :func:`~transactive.crypto.verification.verify_signers`)."""
    return verify_signers(signature_rows(orders, domain), pool=pool, workers=workers)


def start_recovering_order_signers(
    orders: Sequence[SignedOrder], domain: Domain, pool: WorkerPool
) -> Callable[[], list[bytes | None]]:
    """:func:`recover_order_signers` started on ``pool``: returns a function that waits for the signers
    (pass them to :func:`verify_orders` as ``signers``)."""
    return start_verifying_signers(signature_rows(orders, domain), pool)


@dataclass(frozen=True)
class VerifiedBatch:
    """Outcome of :func:`verify_orders`: accepted orders (batch order) and rejected ones with a reason."""

    accepted: list[SignedOrder]
    rejected: list[tuple[int, OrderError]]


def verify_orders(
    orders: Sequence[SignedOrder],
    domain: Domain,
    *,
    slot: int | None = None,
    nonce_store: NonceStore | None = None,
    pool: WorkerPool | None = None,
    workers: int | None = None,
    signers: Sequence[bytes | None] | None = None,
    attribute_keys: Container[bytes] | None = None,
) -> VerifiedBatch:
    """Verify a batch; ``rejected`` holds ``(index in batch, OrderError)``, reasons ``slot``, ``signature``,
    ``attributes``, ``replay``. With a ``nonce_store`` the accepted orders' nonces are marked used. ``signers``:
    what the signatures recover to, when already recovered (:func:`start_recovering_order_signers`), compared
    as 20-byte addresses. ``attribute_keys`` (20-byte trader ‖ 32-byte struct hash, of each attributes record
    in the batch): when given, a version-2 order whose trader ‖ non-zero ``attributesHash`` is not among them
    is rejected (reason ``attributes``)."""
    if signers is None:
        signers = recover_order_signers(orders, domain, pool=pool, workers=workers)
    accepted: list[SignedOrder] = []
    rejected: list[tuple[int, OrderError]] = []
    seen: set[tuple[bytes, int]] = set()
    for k, (order, signer) in enumerate(zip(orders, signers, strict=True)):
        m = order.message
        if slot is not None and m.slot != slot:
            rejected.append((k, OrderError("slot", f"order for slot {m.slot}, expected slot {slot}")))
            continue
        if signer != m.trader_bytes:
            reason = "invalid signature" if signer is None else "signed by another key (or another domain)"
            rejected.append((k, OrderError("signature", f"order {k} of {m.trader}: {reason}")))
            continue
        if attribute_keys is not None and m.attributes_hash not in (None, ZERO32) and \
                m.trader_bytes + m.attributes_hash not in attribute_keys:
            rejected.append((k, OrderError("attributes", f"order {k} of {m.trader}: its attributesHash matches no "
                                                         "attributes record of the trader in the batch")))
            continue
        key = (m.trader_bytes, m.nonce)
        try:
            if key in seen:
                raise ReplayError(f"nonce {m.nonce} of {m.trader} repeats within the batch")
            if nonce_store is not None:
                nonce_store.use(m.trader, m.nonce)
        except ReplayError as exc:
            rejected.append((k, OrderError("replay", str(exc))))
            continue
        seen.add(key)
        accepted.append(order)
    return VerifiedBatch(accepted, rejected)


def verify_order(
    order: SignedOrder, domain: Domain, *, slot: int | None = None, nonce_store: NonceStore | None = None
) -> None:
    """Verify one order as it arrives (same checks as :func:`verify_orders`); raise :class:`OrderError`."""
    batch = verify_orders([order], domain, slot=slot, nonce_store=nonce_store, workers=1)
    if batch.rejected:
        raise batch.rejected[0][1]


# --------------------------------------------------------------------------- Orders <-> messages
def orders_to_messages(
    orders: Orders,
    *,
    side: int,
    slot: int,
    traders: Mapping[str, str],
    nonce_start: int | Mapping[str, int] = 0,
) -> list[OrderMessage]:
    """One message per block of ``orders``, in block order.

    ``traders`` maps each participant id to its address; the ``j``-th block of a participant gets nonce
    ``nonce_start + j`` (``nonce_start`` per id when a mapping, default 0 for ids missing from it).
    """
    messages: list[OrderMessage] = []
    block_of: dict[int, int] = {}
    for k in range(orders.n_blocks):
        owner = int(orders.owner[k])
        pid = orders.ids[owner]
        if pid not in traders:
            raise OrderError("field", f"no address for participant {pid!r}")
        j = block_of.get(owner, 0)
        block_of[owner] = j + 1
        start = nonce_start if isinstance(nonce_start, int) else nonce_start.get(pid, 0)
        messages.append(
            OrderMessage.from_kwh(
                traders[pid],
                slot=slot,
                side=side,
                energy_kwh=float(orders.energy_kwh[k]),
                price_per_kwh=float(orders.price_per_kwh[k]),
                nonce=start + j,
            )
        )
    return messages


def messages_to_orders(
    messages: Iterable[OrderMessage], *, attributes: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[Orders, Orders]:
    """``(sellers, buyers)`` from a batch: ids = trader addresses in first-appearance order, blocks in batch
    order, energy in kWh and price in tokens/kWh (exact conversions of the integer fields).

    ``attributes`` adds per-participant columns looked up by trader address, e.g.
    ``{"bus": {address: bus}}`` from the member registry; every trader must have a value.
    """
    sides: tuple[list[OrderMessage], list[OrderMessage]] = ([], [])
    for m in messages:
        sides[m.side].append(m)
    firsts: list[dict[str, int]] = []  # per side: trader -> participant index (first appearance)
    owners: list[list[int]] = []  # per side: the participant index of each message
    for side_messages in sides:
        first: dict[str, int] = {}
        owners.append([first.setdefault(m.trader, len(first)) for m in side_messages])
        firsts.append(first)
    canonical: dict[str, str] = {t: t for first in firsts for t in first}  # message traders are EIP-55 already

    def canon(address: str) -> str:
        found = canonical.get(address)
        if found is None:
            found = canonical[address] = to_checksum_address(parse_address(address))
        return found

    lookups: dict[str, Mapping[str, Any]] = {}
    keys: list[str] = []
    canonical_keys: list[str] = []
    for name, column in (attributes or {}).items():
        if list(column) != keys:  # the columns of one set of records share their keys: canonicalised once
            keys = list(column)
            canonical_keys = [canon(a) for a in keys]
        # keys already in EIP-55 form (attribute_columns'): the column is its own lookup
        lookups[name] = column if canonical_keys == keys else dict(zip(canonical_keys, column.values(), strict=True))
    out = []
    for side_messages, first, owner in zip(sides, firsts, owners, strict=True):
        if not first:  # an empty side still has the attribute columns (a grid-aware mechanism reads them)
            out.append(Orders.from_blocks([], [], **{name: [] for name in lookups}) if lookups else Orders.empty())
            continue
        columns = {}
        for name, lookup in lookups.items():
            try:
                columns[name] = [lookup[t] for t in first]
            except KeyError:
                missing = next(t for t in first if t not in lookup)
                raise OrderError("field", f"no {name} for trader {missing}") from None
        # blocks grouped per participant (first-appearance order), each participant's in batch order
        owner_column = np.asarray(owner, dtype=np.int64)
        order = np.argsort(owner_column, kind="stable")
        energy = np.asarray([m.energy_wh / WH_PER_KWH for m in side_messages], dtype=np.float64)[order]
        price = np.asarray([m.price_micro_per_kwh / MICRO_PER_TOKEN for m in side_messages], dtype=np.float64)[order]
        out.append(Orders(tuple(first), energy, price, owner_column[order],
                          {name: np.asarray(values) for name, values in columns.items()}))
    return out[0], out[1]
