"""One recomputation shared by the validators simulated in one process (issue 13).

The desk's in-process validators (:class:`~transactive.ledger.clearance.protocol.Validator`, development accounts
1..n) all recompute the same pure, deterministic function of the same published input: a clearing anchor's
:func:`~transactive.ledger.clearance.protocol.recompute` of the committed batch, a settlement's postings from its
input. Where they run in this one process, :class:`SharedRecomputation` computes it **once per distinct input**
(keyed by the exact input, :func:`clearing_key` / :func:`settlement_key`) and every validator endorses that one
result, each still signing its own endorsement. The signature checks are part of the recomputation, so every
signature of a batch is still verified (once) in this process before anything is endorsed.

Not shared: the ``parallel_validators`` worker processes, a remote validator or another machine each
recompute on their own; the benchmark's "one validator alone" figure calls ``recompute`` directly.
``LedgerConfig.share_recomputation=False`` restores one recomputation per validator (the tests compare both).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from transactive.crypto.eip712 import Domain
    from transactive.ledger.audit.proofs import SlotBatch
    from transactive.ledger.messages.commitments import RewardShares

_T = TypeVar("_T")


class SharedRecomputation:
    """A small memo of the last ``keep`` recomputations by exact input. ``computed``: how many ran (tests,
    logs). A computation that raises is not kept (the next validator or call raises the same way)."""

    def __init__(self, *, keep: int = 8) -> None:
        self.keep = keep
        self.computed = 0
        self._done: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """The result for ``key``: the kept one, else ``compute()`` (then kept, the oldest dropped)."""
        if key in self._done:
            self._done.move_to_end(key)
            value: _T = self._done[key]  # type: ignore[assignment]
            return value
        value = compute()
        self.computed += 1
        self._done[key] = value
        while len(self._done) > self.keep:
            self._done.popitem(last=False)
        return value


def clearing_key(batch: SlotBatch, rewards: RewardShares | None) -> tuple[str, bytes]:
    """The exact input of a clearing anchor's recomputation: domain, slot, order root (the messages, attributes
    and, in format 3, the market block), the mechanism/params/DSO digest, every signature, and the reward
    shares, SHA-256 hashed together."""
    h = hashlib.sha256()
    h.update(json.dumps([batch.domain.as_dict(), batch.slot, batch.mechanism, batch.params, batch.dso,
                         None if rewards is None else [rewards.auctioneer_ppm, rewards.miner_ppm, rewards.auctioneer]],
                        sort_keys=True, separators=(",", ":"), default=str).encode())
    h.update(batch.order_root)
    for o in batch.orders:
        h.update(o.signature)
    for a in batch.attributes:
        h.update(a.message.struct_hash())
        h.update(a.signature or b"-")
    return "clearing", h.digest()


def settlement_key(slot: int, input_digest: bytes, domain: Domain, registry: str, block: int | None
                   ) -> tuple[str, int, bytes, int, str, str, int | None]:
    """The exact input of a settlement slot's postings root: the chain slot, the input's digest (what its order
    root commits to), the domain its signed readings are checked in and the Registry the validators check it
    against (address, block)."""
    return "settlement", slot, input_digest, domain.chain_id, domain.verifying_contract, registry, block


__all__ = ["SharedRecomputation", "clearing_key", "settlement_key"]
