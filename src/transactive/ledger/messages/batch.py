"""A market file (``transactive.market/1``) as a signed slot batch, for simulations, demos and tests.

In production every trader signs its own orders (a wallet signs the EIP-712 document of
:meth:`~transactive.ledger.messages.orders.OrderMessage.typed_data`, whose ``attributesHash`` commits to the
trader's :class:`~transactive.ledger.messages.attributes.ParticipantAttributes`); this module does it with keys
it is given, for a simulated community whose keys the caller holds.

:func:`signed_market_batch` turns a parsed :class:`~transactive.marketfile.Market` into a
:class:`~transactive.ledger.audit.proofs.SlotBatch`: sellers' blocks then buyers' blocks (file order, so the
batch order -- the tie-break order -- is the file's), one ``Attributes`` record per participant when the
mechanism declares grid attributes (``bus``, ...; covered by the participant's signed orders, one signature
per block), the mechanism name and raw params, and the DSO account.
Energies and prices are rounded to Wh and micro-tokens/kWh, attributes to mm and 1e-9 units: a market file
already at that resolution clears identically off chain and from the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from transactive.crypto.eip712 import SIDE_BUY, SIDE_SELL, Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.messages.attributes import SignedAttributes, attributes_from_orders
from transactive.ledger.messages.orders import OrderError, orders_to_messages, sign_order
from transactive.marketfile import Market
from transactive.units import entry_at_batch_resolution

__all__ = ["GRID_ATTRIBUTES", "at_batch_resolution", "signed_market_batch"]

GRID_ATTRIBUTES = frozenset({"bus", "distance_pref_m"})
"""A mechanism declaring any of these participant fields needs signed attributes in its batch."""


def at_batch_resolution(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a market document with every participant figure at what a batch can carry
    (:func:`~transactive.units.entry_at_batch_resolution`: kWh to Wh, tokens/kWh to micro-tokens, metres to
    mm, welfare parameters to 1e-9), so clearing the file and clearing its signed batch give identical results."""
    out = dict(doc)
    for side in ("sellers", "buyers"):
        out[side] = [entry_at_batch_resolution(entry) for entry in doc.get(side, [])]
    return out


def signed_market_batch(
    market: Market,
    signers: Mapping[str, Signer],
    *,
    domain: Domain,
    slot: int,
    params: Mapping[str, Any] | None = None,
    dso: str | None = None,
    nonce_start: int | Mapping[str, int] = 0,
) -> SlotBatch:
    """The signed batch of ``market`` for ``slot``: ``signers`` maps every participant id to its key;
    ``params`` are the market file's raw JSON params (what validators parse again); ``dso`` the DSO's
    account (required when the mechanism charges for the grid). ``OrderError`` for a participant without
    a key or a value that cannot be signed."""
    missing = [pid for pid in (*market.sellers.ids, *market.buyers.ids) if pid not in signers]
    if missing:
        raise OrderError("field", f"no key for participant {missing[0]!r}")
    traders = {pid: s.address for pid, s in signers.items()}
    messages = [
        *orders_to_messages(market.sellers, side=SIDE_SELL, slot=slot, traders=traders, nonce_start=nonce_start),
        *orders_to_messages(market.buyers, side=SIDE_BUY, slot=slot, traders=traders, nonce_start=nonce_start),
    ]
    by_address = {s.address: s for s in signers.values()}
    fields = {f.name for f in market.mechanism.participant_fields}
    attributes: tuple[SignedAttributes, ...] = ()
    if fields & GRID_ATTRIBUTES:
        records = attributes_from_orders(market.sellers, market.buyers, slot=slot, traders=traders)
        attributes = tuple(SignedAttributes(r) for r in records)
        hashes = {r.trader: r.struct_hash() for r in records}
        messages = [replace(m, attributes_hash=hashes[m.trader]) for m in messages]
    orders = tuple(sign_order(by_address[m.trader], m, domain) for m in messages)
    return SlotBatch(
        domain, slot, orders, mechanism=market.mechanism.name, params=dict(params or {}),
        attributes=attributes, dso=dso,
    )
