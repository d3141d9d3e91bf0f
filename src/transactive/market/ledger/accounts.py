"""The ledger desk's contracts and custodial member accounts: deployment (or reopening) of Registry,
EnergyToken and MarketSlots, the validators' check against the Registry, the ledger's start, and each trading
member's custodial account (registered with its role and bus, funded, approving MarketSlots).

The first class of :class:`transactive.market.ledger.desk.LedgerDesk`'s chain of responsibilities
(deployment -> :mod:`transactive.market.ledger.anchoring` -> :mod:`transactive.market.ledger.settlement` -> the
desk's cycle); it declares the state the desk's ``__init__`` sets.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, WorkerPool
from transactive.errors import MarketError
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.chain.base import Chain, ChainRevert, Contract
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.deploy import deploy_contracts
from transactive.ledger.clearance.parallel import ParallelValidators
from transactive.market.ledger.config import (
    CLEARING,
    MAX_UINT,
    ROLE_ADMIN,
    ROLE_BITS,
    ROLE_DSO,
    ROLE_MARKET,
    ROLE_VALIDATOR,
    LedgerConfig,
)
from transactive.store import ChainAccount, Member, MultiStore
from transactive.times import iso

if TYPE_CHECKING:
    from transactive.ledger.clearance.protocol import Validator

log = logging.getLogger(__name__)


class KeyedChain(Protocol):
    """What the desk needs beyond :class:`Chain`: signing for added (custodial) keys and ether transfers."""

    def add_key(self, private_key: bytes) -> str: ...

    def send_value(self, to: str, wei: int, sender: str | None = None) -> Any: ...


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _bus32(bus: str | None) -> bytes:
    raw = (bus or "").encode()
    return raw.ljust(32, b"\x00") if len(raw) <= 32 else hashlib.sha256(raw).digest()


class LedgerDeployment:
    """The contracts and member accounts of a :class:`~transactive.market.ledger.desk.LedgerDesk` (its state is
    set by the desk's ``__init__``)."""

    store: MultiStore
    config: LedgerConfig
    chain: Chain
    lock: threading.RLock
    pool: WorkerPool | None
    parallel_validators: ParallelValidators | None
    timings: dict[str, float]  # seconds per step of the last anchor / settle (benchmarks, logs)
    cpu_timings: dict[str, float]  # CPU seconds per step (this process + its signature workers)
    admin: str
    validators: list[Validator]
    registry: Contract
    token: Contract
    slots: Contract
    start: str
    domain: Domain
    archive: SlotArchive | None
    _signers: list[Signer]
    _bus_cache: dict[str, str]  # Registry bus by member address (enrol writes what it sets)

    @property
    def _keyed(self) -> KeyedChain:
        chain: Any = self.chain
        return chain  # type: ignore[no-any-return]

    # ------------------------------------------------------------------------------ deployment
    def _deploy_or_reopen(self) -> tuple[Contract, Contract, Contract]:
        stored = self.store.ledger_meta("deployment")
        names = ("Registry", "EnergyToken", "MarketSlots")
        if stored is None:
            stored = self.store.put_ledger_meta("deployment", self._deploy())
        if int(stored["chainId"]) != self.chain.chain_id:
            raise ValueError(f"chain: the store's contracts are on chain {stored['chainId']}, "
                             f"this chain is {self.chain.chain_id}")
        registry, token, slots = (Contract(name=n, address=stored[n], abi=load_artifact(n).abi) for n in names)
        try:
            if int(self.chain.call(registry, "threshold")) < 1:
                raise ChainRevert("no threshold")
        except Exception as exc:
            raise ValueError(f"chain: no Transactive deployment at {stored['Registry']} on this chain "
                             f"(was the chain reset?): {exc}") from None
        self._check_validators(registry)
        return registry, token, slots

    def _check_validators(self, registry: Contract) -> None:
        """Refuse to reopen a deployment whose Registry holds other validators or another threshold than this
        configuration (every ``open_slot`` would revert): a :class:`MarketError` naming the option to change."""
        on_chain = [str(a) for a in self.chain.call(registry, "validator_list")]
        k = int(self.chain.call(registry, "threshold"))
        mine = [v.address for v in self.validators]
        if [a.lower() for a in on_chain] != [a.lower() for a in mine]:
            raise MarketError("--validators", f"the ledger's Registry holds {len(on_chain)} validators (development "
                              f"accounts 1..{len(on_chain)} when deployed by this service) and threshold {k}; "
                              f"start with --validators {len(on_chain)} --threshold {k}")
        if k != self.config.threshold:
            raise MarketError("--threshold", f"the ledger's Registry has threshold {k}; start with --threshold {k}")

    def _ledger_start(self, started: datetime | None) -> str:
        """The market time (``YYYY-MM-DDTHH:MM:SSZ``) from which the cycle anchors and settles slots: stored in
        the ledger metadata at first deployment (``started``, default now). A store deployed before this was
        recorded takes its first ledger record's slot (or now). Older slots: only by an explicit request."""
        stored = self.store.ledger_meta("start")
        if stored is None:
            first = [r.slot_start for c in self.store.list_communities()
                     for r in self.store.ledger_slots(c.name, CLEARING)[:1]]
            stored = self.store.put_ledger_meta("start", min(first) if first else iso(started or datetime.now(UTC)))
        return str(stored)

    def _deploy(self) -> dict[str, Any]:
        chain = self.chain
        # Registry, EnergyToken ("Transactive Energy Token", TET), MarketSlots (no reward shares), no auction
        registry, token, slots, _ = deploy_contracts(chain, 0, 0, auction=False)
        for v in self.validators:
            chain.transact(registry, "set_member", v.address, ROLE_VALIDATOR, _bus32("validator"))
        chain.transact(registry, "set_threshold", self.config.threshold)
        chain.transact(registry, "set_member", self.admin, ROLE_ADMIN | ROLE_DSO, _bus32("substation"))
        chain.transact(registry, "set_member", slots.address, ROLE_MARKET, _bus32(""))
        if self.config.start_tokens:  # the fallback DSO account pays an imbalance when it absorbed energy
            chain.transact(token, "mint", self.admin, self.config.start_tokens * 10**6)
        chain.transact(token, "approve", slots.address, MAX_UINT)
        # the community market fund (docs/settlement.md): the desk's custodial account, approving MarketSlots
        chain.transact(slots, "set_fund", self.admin)
        log.warning("deployed the Transactive contracts on chain %s", chain.chain_id)
        return {"chainId": chain.chain_id, "Registry": registry.address, "EnergyToken": token.address,
                "MarketSlots": slots.address, "validators": [v.address for v in self.validators],
                "threshold": self.config.threshold}

    # ------------------------------------------------------------------------------ member accounts
    def account_of(self, member: Member) -> ChainAccount | None:
        return self.store.chain_account(member.id)

    def enrol(self, member: Member) -> ChainAccount | None:
        """Give a prosumer, aggregator or DSO member its custodial account, registered in the Registry with its
        role and bus, funded with gas and ``start_tokens`` and approving MarketSlots (idempotent)."""
        bits = ROLE_BITS.get(member.role)
        if bits is None:
            return None
        with self.lock:
            account = self.store.chain_account(member.id)
            if account is None:
                key = secrets.token_bytes(32)
                address = Signer(key).address
                self.store.put_chain_account(ChainAccount(member.id, address, key.hex()))
                account = self.store.chain_account(member.id)
                assert account is not None
            if account.enrolled:
                return account
            assert account.private_key_hex is not None
            address = self._keyed.add_key(bytes.fromhex(account.private_key_hex))
            chain = self.chain
            if int(chain.call(self.registry, "roles", address)) != bits:
                chain.transact(self.registry, "set_member", address, bits, _bus32(member.bus))
                self._bus_cache[address] = _bus32(member.bus).rstrip(b"\x00").decode("utf-8", "replace")  # as read
            fresh = int(chain.call(self.token, "allowance", address, self.slots.address)) == 0
            if fresh and int(chain.call(self.token, "balanceOf", address)) == 0 and self.config.start_tokens:
                if self.archive is not None:  # journaled first, once per account: a retry mints, never journals twice
                    self.archive.record_mint(self.config.start_tokens * 10**6, to=address)
                chain.transact(self.token, "mint", address, self.config.start_tokens * 10**6)
            self._journal(0, [address])
            if fresh:
                self._gas(address)
                chain.transact(self.token, "approve", self.slots.address, MAX_UINT, sender=address)
            self.store.mark_enrolled(member.id)
            return replace(account, enrolled=True)

    def _journal(self, minted_micro: int, accounts: Sequence[str] = ()) -> None:
        """Record a mint and member accounts in the audit archive's manifest (``transactive ledger verify``
        checks the supply against the mints and sums the balances of these accounts too)."""
        if self.archive is None:
            return
        if minted_micro:
            self.archive.record_mint(minted_micro)
        self.archive.record_accounts(accounts)

    def _gas(self, address: str) -> None:
        balance = getattr(self.chain, "balance", None)
        if self.config.gas_wei and (balance is None or int(balance(address)) < self.config.gas_wei // 2):
            self._keyed.send_value(address, self.config.gas_wei)

    def enrol_all(self) -> None:
        """Enrol every member still missing its account (after a restart, or members of an older database)."""
        for community in self.store.list_communities():
            for member in self.store.list_members(community.name):
                account = self.store.chain_account(member.id)
                if member.role in ROLE_BITS and (account is None or not account.enrolled):
                    self.enrol(member)

    def balance_micro(self, address: str) -> int:
        with self.lock:
            return int(self.chain.call(self.token, "balanceOf", address))

    def read_registry_buses(self, addresses: Sequence[str]) -> None:
        """Read the Registry bus of each address into the bus cache (one call each; what the first grid-aware
        slot after a start does for its traders not enrolled by this process)."""
        with self.lock:
            for address in addresses:
                raw = bytes(self.chain.call(self.registry, "bus", address))
                self._bus_cache[address] = raw.rstrip(b"\x00").decode("utf-8", "replace")


    def _dso_address(self, community: str) -> str:
        for member in self.store.list_members(community):
            if member.role == "dso":
                account = self.enrol(member)
                if account is not None:
                    return account.address
        return self.admin

    def dso_address(self, community: str) -> str:
        """The community's DSO account (its DSO member's custodial account, else the service's admin account)."""
        return self._dso_address(community)
