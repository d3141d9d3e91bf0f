"""The challenge path of a cleared slot (``MarketSlots.dispute``, docs/ledger.md, "Challenge path and trust
model"): an honest validator's watch over a CLEARED slot (:func:`dispute_if_wrong`) and the consortium
admin's resolution with a re-endorsed root (:func:`resolve_dispute`), over the Proof-of-Clearance round of
:mod:`transactive.ledger.clearance.protocol`."""

from __future__ import annotations

from collections.abc import Sequence

from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.chain.constants import CLEARED, ZERO_ADDRESS
from transactive.ledger.clearance.protocol import ClearanceError, Collected, Validator, collect, recompute, slot_rewards
from transactive.ledger.messages.commitments import result_tree

__all__ = ["dispute_if_wrong", "resolve_dispute"]


def dispute_if_wrong(chain: Chain, slots: Contract, batch: SlotBatch, validator: str) -> bool:
    """An honest validator's watch over a CLEARED slot during its dispute window: recompute ``batch`` (the
    committed one: its order root must be the chain's) with the slot's reward shares and, if the root on
    chain differs from the recomputed one, send ``dispute(slot)`` as ``validator``. Returns whether it
    disputed; ``ClearanceError`` if the batch is not the committed one or the slot is not CLEARED;
    ``ChainRevert`` if the window is closed."""
    record = chain.call(slots, "slots", batch.slot)
    if bytes(record[4]) != batch.order_root:
        raise ClearanceError(f"slot {batch.slot}: the batch is not the committed one (order root differs)")
    if int(record[0]) != CLEARED:
        raise ClearanceError(f"slot {batch.slot}: not CLEARED (state {int(record[0])})")
    root = result_tree(batch.slot, recompute(batch, rewards=slot_rewards(chain, slots, batch.slot))).root
    if root == bytes(record[6]):
        return False
    chain.transact(slots, "dispute", batch.slot, sender=validator)
    return True


def resolve_dispute(
    chain: Chain,
    slots: Contract,
    batch: SlotBatch,
    validators: Sequence[Validator],
    *,
    k: int,
    admin: str,
    miner: str | None = None,
) -> Collected:
    """The consortium admin's resolution of a DISPUTED slot with a re-endorsed root: every validator
    recomputes and signs again, the root with ``k`` agreeing signatures is accepted on chain
    (``resolve_dispute``); the returned comparison names the dissenters (e.g. the colluders). To reject
    the result instead, the admin calls ``cancel_slot`` (escrow becomes withdrawable).

    When the accepted root corrects the one on chain, the slot's miner (who earns the miner reward)
    becomes ``miner`` -- by default the first agreeing validator, in ``validators`` order, other than the
    validator that submitted the wrong root; its signature is among the ``k`` sent. Confirming the same
    root keeps the slot's miner."""
    rewards = slot_rewards(chain, slots, batch.slot)
    answers = [v.endorse(batch, rewards) for v in validators]
    collected = collect(batch, answers, validators=[v.address for v in validators], k=k)
    if collected.result_root is None:
        raise ClearanceError(f"slot {batch.slot}: fewer than {k} validators agree on a result root")
    record = chain.call(slots, "slots", batch.slot)
    previous = str(record[3]).lower()
    pairs = list(zip(collected.signers, collected.signatures, strict=True))
    named = ZERO_ADDRESS
    if collected.result_root != bytes(record[6]):
        named = miner or next((v for v, _ in pairs if v.lower() != previous), "")
        if not named:
            raise ClearanceError(f"slot {batch.slot}: no endorser of the correct root other than the old miner")
        pairs.sort(key=lambda p: p[0].lower() != named.lower())  # the named miner's signature is sent
    chain.transact(slots, "resolve_dispute", batch.slot, collected.result_root, [sig for _, sig in pairs[:k]],
                   named, sender=admin)
    return collected
