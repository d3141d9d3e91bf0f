"""The ledger's configuration and the contracts' constants (roles, slot states, modes) as the service uses them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transactive.ledger.chain.constants import (  # re-exported: the service imports them from here
    CANCELLED,
    CHAIN_ENGINES,
    CLEARED,
    CLOSE,
    FOR_SALE,
    MAX_UINT,
    MODE_BATCH,
    MODE_CLAIMS,
    RESERVE_NOT_MET,
    REVM,
    ROLE_ADMIN,
    ROLE_BITS,
    ROLE_DSO,
    ROLE_MARKET,
    ROLE_VALIDATOR,
    SETTLED,
)

CLEARING, SETTLEMENT = "clearing", "settlement"
RETRY_S = 30.0  # a failed anchoring or settlement step is retried by the cycle after this many seconds



@dataclass(frozen=True)
class LedgerConfig:
    """The ledger of a service.

    ``chain_url``: a JSON-RPC node; None: the embedded chain in ``chain_dir`` (None: in memory), on the engine
    ``chain_engine`` (``revm``, the default, or ``pyevm``) when it is new (an existing directory keeps its engine:
    :mod:`transactive.ledger.chain.connect`).
    ``validators`` in-process validators (development accounts 1..n) of which ``threshold`` must agree.
    ``start_tokens``: tokens minted to every member account at enrolment. ``gas_wei``: ether given to a
    custodial account for its own transactions (approve, escrow). ``batch_max_rows``: settlements with more
    accounts use Merkle claims. ``penalty_per_kwh`` (DSO deviation penalty) and ``grid_charge_per_kwh`` (flat
    network charge of mechanisms without matched trades), tokens. ``archive_dir``: also keep the audit archive
    there (``ledger.json``, ``slots/<n>.json``: what ``transactive ledger verify`` reads; the service's data
    directory, whose ``chain/`` is the embedded chain). ``parallel_validators``: recompute a large slot
    (>= 2,048 orders and attributes records) for the validators other than the auctioneer side by side in
    ``validators - 1`` worker processes (:mod:`transactive.ledger.clearance.parallel`) instead of one after
    the other in the service's process (off by default: on the shared 2-core machine it cost ~15 % more CPU
    than one validator after the other, each with the desk's signature pool, and was not faster; see
    ``docs/service.md``, *Performance of one slot*). ``share_recomputation``: the validators that run in this
    process endorse one recomputation per distinct input (:mod:`transactive.market.ledger.sharing`; False:
    each recomputes on its own, as separate processes or machines do).
    """

    chain_url: str | None = None
    chain_dir: Path | None = None
    chain_engine: str = REVM
    validators: int = 4
    threshold: int = 3
    start_tokens: int = 1_000
    gas_wei: int = 10**17
    batch_max_rows: int = 128
    penalty_per_kwh: float = 0.05
    grid_charge_per_kwh: float = 0.01
    archive_dir: Path | None = None
    parallel_validators: bool = False
    share_recomputation: bool = True

    def __post_init__(self) -> None:
        if self.chain_engine not in CHAIN_ENGINES:
            raise ValueError(f"chain_engine: expected one of {', '.join(CHAIN_ENGINES)}, got {self.chain_engine!r}")
        if not 1 <= self.validators <= 11:
            raise ValueError("validators: must be 1-11")
        if not 1 <= self.threshold <= self.validators:
            raise ValueError("threshold: must be 1..validators")
        if self.start_tokens < 0:
            raise ValueError("start_tokens: must be >= 0")
        if self.gas_wei < 0 or not 1 <= self.batch_max_rows <= 128:
            raise ValueError("gas_wei: must be >= 0 (and batch_max_rows 1-128)")


__all__ = [
    "CANCELLED", "CLEARED", "CLEARING", "CLOSE", "FOR_SALE", "MAX_UINT", "MODE_BATCH", "MODE_CLAIMS",
    "RESERVE_NOT_MET", "RETRY_S", "ROLE_ADMIN", "ROLE_BITS", "ROLE_DSO", "ROLE_MARKET", "ROLE_VALIDATOR", "SETTLED",
    "SETTLEMENT", "LedgerConfig",
]
