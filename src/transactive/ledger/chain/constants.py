"""The contracts' constants as Python sees them: Registry role bits, ``MarketSlots`` slot states and
settlement modes (the values of ``Registry.vy`` and ``MarketSlots.vy``; this is the only Python copy).

Import-light (no ledger extra needed): the service, the channels and the simulated day import it.
"""

from __future__ import annotations

from collections.abc import Mapping

# Registry role bits (a member may hold several: OR them)
ROLE_PROSUMER, ROLE_AGGREGATOR, ROLE_DSO, ROLE_VALIDATOR, ROLE_ADMIN, ROLE_MARKET = 1, 2, 4, 8, 16, 32
ROLE_BITS: Mapping[str, int] = {"prosumer": ROLE_PROSUMER, "aggregator": ROLE_AGGREGATOR, "dso": ROLE_DSO}
"""A service member's role name -> its Registry role bit (the roles with a custodial account)."""

# MarketSlots slot states (Slot.state) and settlement modes (Slot.mode)
CLOSE, FOR_SALE, RESERVE_NOT_MET, CLEARED, SETTLED, CANCELLED, DISPUTED = 0, 1, 2, 3, 4, 5, 6
MODE_BATCH, MODE_CLAIMS = 1, 2

SLOT_FIELDS = ("state", "mode", "auctioneer", "miner", "order_root", "order_count", "result_root",
               "auctioneer_ppm", "miner_ppm", "pool", "cleared_block", "resolved", "dispute_until",
               "claims_paid", "off_chain_ref")
"""The members of ``MarketSlots.slots(slot)`` in order (the getter returns them as a tuple)."""
SLOT_STATE, SLOT_MINER, SLOT_RESULT_ROOT, SLOT_DISPUTE_UNTIL, SLOT_CLAIMS_PAID, SLOT_OFF_CHAIN_REF = (
    SLOT_FIELDS.index(n) for n in ("state", "miner", "result_root", "dispute_until", "claims_paid", "off_chain_ref"))

PYEVM, REVM = "pyevm", "revm"
CHAIN_ENGINES = (PYEVM, REVM)
"""The in-process chain engines (:mod:`transactive.ledger.chain.connect`): py-evm and revm."""

ZERO_ADDRESS = "0x" + "00" * 20
"""``empty(address)``: e.g. ``resolve_dispute``'s miner when the same root is confirmed, ``MINER_LEAF``."""
MAX_UINT = 2**256 - 1
"""An unlimited ERC-20 allowance."""

__all__ = [
    "CANCELLED", "CHAIN_ENGINES", "CLEARED", "CLOSE", "DISPUTED", "FOR_SALE", "MAX_UINT", "MODE_BATCH",
    "MODE_CLAIMS", "PYEVM", "RESERVE_NOT_MET", "REVM",
    "ROLE_ADMIN", "ROLE_AGGREGATOR", "ROLE_BITS", "ROLE_DSO", "ROLE_MARKET", "ROLE_PROSUMER",
    "ROLE_VALIDATOR", "SETTLED", "SLOT_CLAIMS_PAID", "SLOT_DISPUTE_UNTIL", "SLOT_FIELDS", "SLOT_MINER",
    "SLOT_OFF_CHAIN_REF", "SLOT_RESULT_ROOT", "SLOT_STATE", "ZERO_ADDRESS",
]
