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
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

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


ENROL_BATCH = 200
"""Members per batch transaction of :meth:`LedgerAccounts.enrol_many` and addresses per bulk bus read (the
contracts accept up to ``MAX_BATCH`` = 400; 200 members' ``set_members`` or ``permit_batch`` use about 10 M
gas, a third of a 30 M-gas block)."""
PERMIT_TAG = keccak(b"Transactive EnergyToken permit")
"""``EnergyToken.PERMIT_TAG``."""

T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterator[list[T]]:
    for i in range(0, len(items), ENROL_BATCH):
        yield list(items[i:i + ENROL_BATCH])


def permit_digest(token: str, chain_id: int, *, owner: str, spender: str, amount: int, nonce: int) -> bytes:
    """``EnergyToken.permit_digest``: keccak256(abi_encode(PERMIT_TAG, token, chain id, owner, spender, amount,
    nonce)), the 32 bytes an owner signs to approve ``spender`` for ``amount`` (micro-tokens)."""
    return keccak(abi_encode(["bytes32", "address", "uint256", "address", "address", "uint256", "uint256"],
                             [PERMIT_TAG, token, chain_id, owner, spender, amount, nonce]))


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
        """Give a prosumer, aggregator or DSO member its custodial account (idempotent): :meth:`enrol_many` of
        one member; ``None`` for a role without one."""
        return self.enrol_many([member]).get(member.id)

    def enrol_many(self, members: Sequence[Member]) -> dict[str, ChainAccount]:
        """Batch enrolment: give each prosumer, aggregator or DSO member of ``members`` its custodial account,
        registered in the Registry with its role and bus, holding ``start_tokens`` and approving MarketSlots, in
        three transactions per :data:`ENROL_BATCH` members (``Registry.set_members``, ``EnergyToken.mint_batch``,
        ``EnergyToken.permit_batch`` with each member's signed permit) instead of four per member. Idempotent:
        an account enrolled already is returned as is; one created earlier but not marked enrolled (a crash
        mid-enrolment) is checked on chain first so that a retry never mints twice. Members' gas is not funded
        here (an account is topped up when it first sends: an escrow deposit). Returns member id -> account."""
        out: dict[str, ChainAccount] = {}
        todo: list[tuple[Member, ChainAccount, bool]] = []  # (member, account, created by this call)
        with self.ctx.lock:
            trading = list({m.id: m for m in members if m.role in ROLE_BITS}.values())
            if len(trading) == 1:
                one = self.ctx.store.chain_account(trading[0].id)
                stored = {} if one is None else {one.member: one}
            else:  # one query, not one per member
                stored = {a.member: a for a in self.ctx.store.chain_accounts()}
            new = {m.id: ChainAccount(m.id, Signer(key).address, key.hex())
                   for m in trading if m.id not in stored for key in (secrets.token_bytes(32),)}
            if new:
                self.ctx.store.put_chain_accounts(list(new.values()))
                stored.update({a.member: a for a in self.ctx.store.chain_accounts() if a.member in new})
            for member in trading:
                account = out[member.id] = stored[member.id]
                if not account.enrolled:
                    todo.append((member, account, member.id in new))
            if not todo:
                return out
            chain, token, slots = self.ctx.chain, self.ctx.token, self.ctx.slots
            register: dict[int, list[tuple[str, bytes]]] = {}  # role bits -> (address, bus32)
            mint: list[str] = []
            permit: list[tuple[str, bytes]] = []  # (address, private key)
            for member, account, created in todo:
                assert account.private_key_hex is not None
                key = bytes.fromhex(account.private_key_hex)
                address = self.ctx.keyed.add_key(key)
                bits = ROLE_BITS[member.role]
                if created or int(chain.call(self.ctx.registry, "roles", address)) != bits:
                    register.setdefault(bits, []).append((address, _bus32(member.bus)))
                fresh = created or int(chain.call(token, "allowance", address, slots.address)) == 0
                if fresh and (created or int(chain.call(token, "balanceOf", address)) == 0):
                    mint.append(address)
                if fresh:
                    permit.append((address, key))
            for bits, rows in register.items():
                for chunk in _chunks(rows):
                    chain.transact(self.ctx.registry, "set_members", [a for a, _ in chunk], bits,
                                   [b for _, b in chunk])
                for address, bus in rows:
                    self.ctx.bus_cache[address] = bus.rstrip(b"\x00").decode("utf-8", "replace")  # as read
            if mint and self.ctx.config.start_tokens:
                amount = self.ctx.config.start_tokens * 10**6
                if self.ctx.archive is not None:  # journaled first, once per account: a retry never journals twice
                    self.ctx.archive.record_mints_to(amount, mint)
                for chunk_addresses in _chunks(mint):
                    chain.transact(token, "mint_batch", chunk_addresses, amount)
            self.journal(0, [account.address for _, account, _ in todo])
            if permit:
                chain_id = chain.chain_id
                created_now = {account.address for _, account, created in todo if created}
                for chunk_keys in _chunks(permit):
                    rows_p = []
                    for address, key in chunk_keys:
                        nonce = 0 if address in created_now else int(chain.call(token, "nonces", address))
                        sig = Signer(key).sign_digest(permit_digest(token.address, chain_id, owner=address,
                                                                    spender=slots.address, amount=MAX_UINT,
                                                                    nonce=nonce))
                        rows_p.append((address, sig[64], sig[:32], sig[32:64]))
                    chain.transact(token, "permit_batch", slots.address, MAX_UINT, rows_p)
            self.ctx.store.mark_enrolled([member.id for member, _, _ in todo])
            for member, account, _ in todo:
                out[member.id] = replace(account, enrolled=True)
            return out

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
        for community in self.ctx.store.list_communities():
            self.enrol_many(self.ctx.store.list_members(community.name))  # idempotent; resumes half-done ones

    def balance_micro(self, address: str) -> int:
        with self.ctx.read_lock:
            return int(self.ctx.chain.call(self.ctx.token, "balanceOf", address))

    def read_registry_buses(self, addresses: Sequence[str]) -> None:
        """Read the Registry bus of each address into the bus cache (what the first grid-aware slot after a
        start does for its traders not enrolled by this process): one ``Registry.buses_of`` call per
        :data:`ENROL_BATCH` addresses."""
        with self.ctx.lock:
            for chunk in _chunks(list(addresses)):
                raws = self.ctx.chain.call(self.ctx.registry, "buses_of", chunk)
                for address, raw in zip(chunk, raws, strict=True):
                    self.ctx.bus_cache[address] = bytes(raw).rstrip(b"\x00").decode("utf-8", "replace")


    def dso_address(self, community: str) -> str:
        """The community's DSO account (its DSO member's custodial account, else the service's admin account)."""
        for member in self.ctx.store.list_members(community, role="dso"):
            if member.role == "dso":
                account = self.enrol(member)
                if account is not None:
                    return account.address
        return self.ctx.admin
