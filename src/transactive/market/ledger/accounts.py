"""The ledger desk's contracts and custodial member accounts: deployment (or reopening) of Registry,
EnergyToken and MarketSlots, the validators' check against the Registry, the ledger's start, and each trading
member's custodial account (registered with its role and bus, funded, approving MarketSlots).

:class:`LedgerAccounts` is the first part of :class:`transactive.market.ledger.desk.LedgerDesk` (accounts ->
:mod:`transactive.market.ledger.anchoring` -> :mod:`transactive.market.ledger.settlement`, the desk's cycle over
them); it works on the desk's :class:`~transactive.market.ledger.context.LedgerContext`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from transactive.crypto.signing import Signer
from transactive.errors import MarketError
from transactive.ledger.chain.base import ChainRevert, Contract
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.deploy import deploy_contracts
from transactive.market.ledger.config import (
    CLEARING,
    MAX_UINT,
    ROLE_ADMIN,
    ROLE_BITS,
    ROLE_DSO,
    ROLE_MARKET,
    ROLE_VALIDATOR,
)
from transactive.market.ledger.context import LedgerContext
from transactive.store import ChainAccount, Member
from transactive.times import iso

log = logging.getLogger(__name__)


def _bus32(bus: str | None) -> bytes:
    raw = (bus or "").encode()
    return raw.ljust(32, b"\x00") if len(raw) <= 32 else hashlib.sha256(raw).digest()


class LedgerAccounts:
    """The contracts and member accounts of a :class:`~transactive.market.ledger.desk.LedgerDesk`: deploying or
    reopening Registry, EnergyToken and MarketSlots (checked against the validators), the ledger's start, the
    custodial accounts (enrolled, funded, approving MarketSlots), their balances, the Registry bus cache, the
    community's DSO account and the audit archive's journal of mints and accounts. Its state is the desk's
    :class:`~transactive.market.ledger.context.LedgerContext`."""

    def __init__(self, ctx: LedgerContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------------------ deployment
    def deploy_or_reopen(self) -> tuple[Contract, Contract, Contract]:
        """``(Registry, EnergyToken, MarketSlots)``: reopened at the stored deployment (checked against this
        chain and the validators) or deployed and stored."""
        stored = self.ctx.store.ledger_meta("deployment")
        names = ("Registry", "EnergyToken", "MarketSlots")
        if stored is None:
            stored = self.ctx.store.put_ledger_meta("deployment", self._deploy())
        if int(stored["chainId"]) != self.ctx.chain.chain_id:
            raise ValueError(f"chain: the store's contracts are on chain {stored['chainId']}, "
                             f"this chain is {self.ctx.chain.chain_id}")
        registry, token, slots = (Contract(name=n, address=stored[n], abi=load_artifact(n).abi) for n in names)
        try:
            if int(self.ctx.chain.call(registry, "threshold")) < 1:
                raise ChainRevert("no threshold")
        except Exception as exc:
            raise ValueError(f"chain: no Transactive deployment at {stored['Registry']} on this chain "
                             f"(was the chain reset?): {exc}") from None
        self._check_validators(registry)
        return registry, token, slots

    def _check_validators(self, registry: Contract) -> None:
        """Refuse to reopen a deployment whose Registry holds other validators or another threshold than this
        configuration (every ``open_slot`` would revert): a :class:`MarketError` naming the option to change."""
        on_chain = [str(a) for a in self.ctx.chain.call(registry, "validator_list")]
        k = int(self.ctx.chain.call(registry, "threshold"))
        mine = [v.address for v in self.ctx.validators]
        if [a.lower() for a in on_chain] != [a.lower() for a in mine]:
            raise MarketError("--validators", f"the ledger's Registry holds {len(on_chain)} validators (development "
                              f"accounts 1..{len(on_chain)} when deployed by this service) and threshold {k}; "
                              f"start with --validators {len(on_chain)} --threshold {k}")
        if k != self.ctx.config.threshold:
            raise MarketError("--threshold", f"the ledger's Registry has threshold {k}; start with --threshold {k}")

    def ledger_start(self, started: datetime | None) -> str:
        """The market time (``YYYY-MM-DDTHH:MM:SSZ``) from which the cycle anchors and settles slots: stored in
        the ledger metadata at first deployment (``started``, default now). A store deployed before this was
        recorded takes its first ledger record's slot (or now). Older slots: only by an explicit request."""
        stored = self.ctx.store.ledger_meta("start")
        if stored is None:
            first = [r.slot_start for c in self.ctx.store.list_communities()
                     for r in self.ctx.store.ledger_slots(c.name, CLEARING)[:1]]
            stored = self.ctx.store.put_ledger_meta("start", min(first) if first else iso(started or datetime.now(UTC)))
        return str(stored)

    def _deploy(self) -> dict[str, Any]:
        chain = self.ctx.chain
        # Registry, EnergyToken ("Transactive Energy Token", TET), MarketSlots (no reward shares), no auction
        registry, token, slots, _ = deploy_contracts(chain, 0, 0, auction=False)
        for v in self.ctx.validators:
            chain.transact(registry, "set_member", v.address, ROLE_VALIDATOR, _bus32("validator"))
        chain.transact(registry, "set_threshold", self.ctx.config.threshold)
        chain.transact(registry, "set_member", self.ctx.admin, ROLE_ADMIN | ROLE_DSO, _bus32("substation"))
        chain.transact(registry, "set_member", slots.address, ROLE_MARKET, _bus32(""))
        if self.ctx.config.start_tokens:  # the fallback DSO account pays an imbalance when it absorbed energy
            chain.transact(token, "mint", self.ctx.admin, self.ctx.config.start_tokens * 10**6)
        chain.transact(token, "approve", slots.address, MAX_UINT)
        # the community market fund (docs/settlement.md): the desk's custodial account, approving MarketSlots
        chain.transact(slots, "set_fund", self.ctx.admin)
        log.warning("deployed the Transactive contracts on chain %s", chain.chain_id)
        return {"chainId": chain.chain_id, "Registry": registry.address, "EnergyToken": token.address,
                "MarketSlots": slots.address, "validators": [v.address for v in self.ctx.validators],
                "threshold": self.ctx.config.threshold}

    # ------------------------------------------------------------------------------ member accounts
    def account_of(self, member: Member) -> ChainAccount | None:
        return self.ctx.store.chain_account(member.id)

    def enrol(self, member: Member) -> ChainAccount | None:
        """Give a prosumer, aggregator or DSO member its custodial account, registered in the Registry with its
        role and bus, funded with gas and ``start_tokens`` and approving MarketSlots (idempotent)."""
        bits = ROLE_BITS.get(member.role)
        if bits is None:
            return None
        with self.ctx.lock:
            account = self.ctx.store.chain_account(member.id)
            if account is None:
                key = secrets.token_bytes(32)
                address = Signer(key).address
                self.ctx.store.put_chain_account(ChainAccount(member.id, address, key.hex()))
                account = self.ctx.store.chain_account(member.id)
                assert account is not None
            if account.enrolled:
                return account
            assert account.private_key_hex is not None
            address = self.ctx.keyed.add_key(bytes.fromhex(account.private_key_hex))
            chain = self.ctx.chain
            if int(chain.call(self.ctx.registry, "roles", address)) != bits:
                chain.transact(self.ctx.registry, "set_member", address, bits, _bus32(member.bus))
                self.ctx.bus_cache[address] = _bus32(member.bus).rstrip(b"\x00").decode("utf-8", "replace")  # as read
            fresh = int(chain.call(self.ctx.token, "allowance", address, self.ctx.slots.address)) == 0
            if fresh and int(chain.call(self.ctx.token, "balanceOf", address)) == 0 and self.ctx.config.start_tokens:
                # journaled first, once per account: a retry mints, never journals twice
                if self.ctx.archive is not None:
                    self.ctx.archive.record_mint(self.ctx.config.start_tokens * 10**6, to=address)
                chain.transact(self.ctx.token, "mint", address, self.ctx.config.start_tokens * 10**6)
            self.journal(0, [address])
            if fresh:
                self.fund_gas(address)
                chain.transact(self.ctx.token, "approve", self.ctx.slots.address, MAX_UINT, sender=address)
            self.ctx.store.mark_enrolled(member.id)
            return replace(account, enrolled=True)

    def journal(self, minted_micro: int, accounts: Sequence[str] = ()) -> None:
        """Record a mint and member accounts in the audit archive's manifest (``transactive ledger verify``
        checks the supply against the mints and sums the balances of these accounts too)."""
        if self.ctx.archive is None:
            return
        if minted_micro:
            self.ctx.archive.record_mint(minted_micro)
        self.ctx.archive.record_accounts(accounts)

    def fund_gas(self, address: str) -> None:
        """Top ``address`` up with the configured ``gas_wei`` when it holds less than half of it (custodial
        accounts send their own transactions: approvals, escrow deposits)."""
        balance = getattr(self.ctx.chain, "balance", None)
        if self.ctx.config.gas_wei and (balance is None or int(balance(address)) < self.ctx.config.gas_wei // 2):
            self.ctx.keyed.send_value(address, self.ctx.config.gas_wei)

    def enrol_all(self) -> None:
        """Enrol every member still missing its account (after a restart, members of an older database, or an
        enrolment another process of a fleet left half done when it died)."""
        accounts = {a.member: a for a in self.ctx.store.chain_accounts()}  # one query, not one per member
        for community in self.ctx.store.list_communities():
            for member in self.ctx.store.list_members(community.name):
                account = accounts.get(member.id)
                if member.role in ROLE_BITS and (account is None or not account.enrolled):
                    self.enrol(member)

    def balance_micro(self, address: str) -> int:
        with self.ctx.read_lock:
            return int(self.ctx.chain.call(self.ctx.token, "balanceOf", address))

    def read_registry_buses(self, addresses: Sequence[str]) -> None:
        """Read the Registry bus of each address into the bus cache (one call each; what the first grid-aware
        slot after a start does for its traders not enrolled by this process)."""
        with self.ctx.lock:
            for address in addresses:
                raw = bytes(self.ctx.chain.call(self.ctx.registry, "bus", address))
                self.ctx.bus_cache[address] = raw.rstrip(b"\x00").decode("utf-8", "replace")


    def dso_address(self, community: str) -> str:
        """The community's DSO account (its DSO member's custodial account, else the service's admin account)."""
        for member in self.ctx.store.list_members(community):
            if member.role == "dso":
                account = self.enrol(member)
                if account is not None:
                    return account.address
        return self.ctx.admin
