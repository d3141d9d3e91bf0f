"""The simulated day's ledger: an embedded chain where the day is cleared (Proof of Clearance) and settled in tokens.

:class:`DayLedger` lives in ``OUT/ledger`` (a :class:`~transactive.ledger.audit.SlotArchive` with its chain):

1. **set-up** -- :func:`~transactive.ledger.testing.deploy_suite` (Registry, EnergyToken, MarketSlots,
   NegawattAuction; admin = the consortium operator, 4 validators with threshold 3), then the day's accounts
   become Registry members with addresses: every prosumer (``ROLE_PROSUMER``, its feeder bus), the ``dso``
   (the suite's DSO account, ``ROLE_DSO``), the ``aggregator`` (the suite's aggregator, ``ROLE_AGGREGATOR``)
   and the market accounts ``board``, ``auctioneer``, ``grid`` and ``balancing`` (``ROLE_MARKET``; addresses
   derived from ``keccak("transactive-day/account/<name>")``, keys nobody uses). Starting balances:
   :data:`STARTING_PROSUMER_MICRO` per prosumer and :data:`STARTING_ACCOUNT_MICRO` per account (the
   aggregator already holds that from the suite), minted and journaled;
2. **each slot** -- the auction stage's signed orders go through Proof of Clearance
   (:func:`transactive.ledger.clearance.run_slot`), then the slot's whole off-chain settlement (every stage:
   bilateral, listings, auction, grid; :func:`slot_postings`) is posted as one balanced
   ``EnergyToken.settle`` batch by the operator (:func:`transactive.ledger.statements.post_batch`);
3. **the demand-response event** -- its postings (members, aggregator, balancing) as one more batch after
   the event window's last slot;
4. **finish** -- the statement journal (starting balances; every account's statement sum, computed from the
   statements by the caller) is written and the archive is audited
   (:func:`transactive.ledger.audit.verify_archive`, which checks the token balances against the statements).

The on-chain auction result (the validators' entries) is *not* what moves the auction's money: the
settlement follows ``settle_slot``'s statements (which cut a mechanism's unequal sides, e.g. DPDA's clipping,
and pay no validator rewards), so every account's on-chain balance equals its starting balance plus its
statement sum to the micro-token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transactive.market.multi_settlement import STAGES, SlotSettlement
from transactive.market.negawatt import NegawattEvent
from transactive.units import money_to_micro

if TYPE_CHECKING:  # the ledger extra is imported only when the day runs on chain
    from transactive.ledger.statements import Posting

STARTING_PROSUMER_MICRO = 100 * 10**6
STARTING_ACCOUNT_MICRO = 1_000 * 10**6
MARKET_ACCOUNTS = ("board", "auctioneer", "grid", "balancing")
DR_STAGE = "demand_response"


def market_account_address(name: str) -> str:
    """The address of a market account (``board``, ...): derived from ``keccak("transactive-day/account/<name>")``."""
    from transactive.ledger.signing import Signer

    return Signer(hashlib.sha256(f"transactive-day/account/{name}".encode()).digest()).address


def slot_postings(settlement: SlotSettlement, accounts: Mapping[str, str]) -> list[Posting]:
    """The slot's statements as :class:`~transactive.ledger.statements.Posting` rows, stage by stage: each
    prosumer's non-zero stage money, and the accounts' share of the stage (``board`` and ``dso`` in listings,
    the ``auctioneer``'s auction surplus in auction, its wholesale fee and the ``grid`` in grid). ``accounts``
    maps account names to addresses (prosumers are their own addresses). Sums to ``balance_micro`` (0)."""
    from transactive.ledger.statements import Posting

    rows: list[Posting] = []
    auction_money = 0
    for stage in STAGES:
        for s in settlement.statements:
            money = s.stages[stage].money_micro
            if money:
                rows.append(Posting(stage, s.peer, money))
            if stage == "auction":
                auction_money += money
        if stage == "listings":
            rows += [Posting(stage, accounts[a], settlement.accounts[a]) for a in ("board", "dso")]
        elif stage == "auction":
            rows.append(Posting(stage, accounts["auctioneer"], -auction_money))
        elif stage == "grid":
            rows.append(Posting(stage, accounts["auctioneer"], settlement.accounts["auctioneer"] + auction_money))
            rows.append(Posting(stage, accounts["grid"], settlement.accounts["grid"]))
    return [r for r in rows if r.amount_micro != 0]


def event_postings(event: NegawattEvent, accounts: Mapping[str, str]) -> list[Posting]:
    """The demand-response event's settlement postings: ``member:<peer>`` to the peer, ``aggregator:*`` to the
    aggregator, anything else to ``balancing``."""
    from transactive.ledger.statements import Posting

    assert event.settlement is not None
    rows = []
    for p in event.settlement["postings"]:
        account, amount = str(p["account"]), int(p["amount_micro"])
        if account.startswith("member:"):
            address = account.removeprefix("member:")
        elif account.startswith("aggregator:"):
            address = accounts["aggregator"]
        else:
            address = accounts["balancing"]
        if amount:
            rows.append(Posting(DR_STAGE, address, amount))
    return rows


class DayLedger:
    """The embedded chain in ``folder`` with the deployed suite, the day's members, validators and signers."""

    def __init__(self, folder: Path, keys: Sequence[bytes], buses: Sequence[str]) -> None:
        from transactive.ledger.audit import SlotArchive
        from transactive.ledger.clearance import Validator, domain_of
        from transactive.ledger.embedded import EmbeddedChain
        from transactive.ledger.signing import Signer
        from transactive.ledger.statements import StatementJournal
        from transactive.ledger.testing import deploy_suite

        self.folder = folder
        self.archive = SlotArchive(folder)
        self.journal = StatementJournal(folder)
        self.chain = EmbeddedChain(self.archive.chain_dir)
        self.dep = deploy_suite(self.chain)
        self.archive.create(registry=self.dep.registry.address, token=self.dep.token.address,
                            slots=self.dep.slots.address)
        self.archive.record_mint(10 * 1_000 * 10**6)  # deploy_suite mints 1,000 tokens to 10 accounts
        self.validators = [Validator(self.chain.private_key(v)) for v in self.dep.validators]
        self.domain = domain_of(self.chain, self.dep.slots)
        self.signers = [Signer(k) for k in keys]
        self.accounts = {"dso": self.dep.dso, "aggregator": self.dep.aggregator,
                         **{name: market_account_address(name) for name in MARKET_ACCOUNTS}}
        self._register(buses)
        self.starting = self.balances()
        self.starting_supply = int(self.chain.call(self.dep.token, "totalSupply"))
        self.committed = 0
        self.skipped = 0
        self.matches = 0
        self.batches = 0
        self.postings = 0

    def _register(self, buses: Sequence[str]) -> None:
        from transactive.ledger.testing import ROLE_MARKET, ROLE_PROSUMER, bus

        c, reg, token = self.chain, self.dep.registry, self.dep.token
        funding: list[tuple[str, int]] = []
        for signer, name in zip(self.signers, buses, strict=True):
            c.transact(reg, "set_member", signer.address, ROLE_PROSUMER, bus(name))
            funding.append((signer.address, STARTING_PROSUMER_MICRO))
        for name in MARKET_ACCOUNTS:
            c.transact(reg, "set_member", self.accounts[name], ROLE_MARKET, bus(name))
        for address in self.accounts.values():
            held = int(c.call(token, "balanceOf", address))
            funding.append((address, max(STARTING_ACCOUNT_MICRO - held, 0)))
        for address, amount in funding:
            if amount:
                c.transact(token, "mint", address, amount)
                self.archive.record_mint(amount)

    @property
    def tracked(self) -> list[str]:
        """Every account whose balance the audit checks: prosumers, the day's accounts, the chain's own
        accounts (admin, validators, ...) and the contracts."""
        d = self.dep
        found = [s.address for s in self.signers] + list(self.accounts.values()) + list(self.chain.accounts)
        found += [d.token.address, d.slots.address, d.auction.address, d.registry.address]
        return list(dict.fromkeys(found))

    def balances(self) -> dict[str, int]:
        return {a: int(self.chain.call(self.dep.token, "balanceOf", a)) for a in self.tracked}

    def _post(self, label: str, rows: Sequence[Posting]) -> None:
        """One ``EnergyToken.settle`` batch (a slot has at most 55 x 4 + 5 = 225 postings, under the
        contract's 256), journaled."""
        from transactive.ledger.statements import post_batch

        ref = post_batch(self.chain, self.dep.token, label, rows)
        self.journal.append(label, ref, rows)
        self.batches += 1
        self.postings += len(rows)

    def settle_slot(self, settlement: SlotSettlement) -> None:
        """Post the slot's whole off-chain settlement as token transfers (one balanced batch)."""
        self._post(f"slot {settlement.slot}", slot_postings(settlement, self.accounts))

    def settle_event(self, event: NegawattEvent) -> None:
        """Post the demand-response event's settlement as token transfers."""
        self._post(f"event {event.spec.id}", event_postings(event, self.accounts))

    def clear_slot(self, settlement: SlotSettlement, mechanism: str) -> None:
        """Proof of Clearance of the slot's auction stage: one signed order per prosumer with a residual after
        bilateral and listings, at the limit ``settle_slot`` bids for it (0.015 to sell, 0.1 to buy)."""
        from transactive.ledger.clearance import run_slot
        from transactive.ledger.orders_codec import OrderMessage, sign_order
        from transactive.ledger.proofs import SlotBatch

        slot = settlement.slot
        residual = [s.net_wh - sum(s.stages[g].sold_wh - s.stages[g].bought_wh for g in ("bilateral", "listings"))
                    for s in settlement.statements]
        ask, bid = money_to_micro(0.015), money_to_micro(0.1)  # the grid alternatives settle_slot bids
        sells = [(k, r) for k, r in enumerate(residual) if r > 0]
        buys = [(k, -r) for k, r in enumerate(residual) if r < 0]
        orders = tuple(
            sign_order(self.signers[k], OrderMessage(self.signers[k].address, slot, side, wh, price, slot), self.domain)
            for side, price, book in ((0, ask, sells), (1, bid, buys)) for k, wh in book
        )
        if not orders:
            self.skipped += 1
            return
        batch = SlotBatch(self.domain, slot, orders, mechanism=mechanism)
        final, _, _ = run_slot(self.chain, self.dep.slots, batch, self.validators, k=3)
        self.archive.save(final)
        self.committed += 1
        auction_wh = {s.peer.lower(): s.stages["auction"].sold_wh - s.stages["auction"].bought_wh
                      for s in settlement.statements}
        self.matches += all(auction_wh.get(e.account.lower(), 0) == e.energy_wh for e in final.results)

    def finish(self, statement_micro: Mapping[str, int]) -> dict[str, Any]:
        """Write the statement journal (``statement_micro``: name or address -> the account's statement sum),
        compare the balances, close the chain and audit the archive. Returns the summary's token figures."""
        from transactive.ledger.audit import verify_archive

        by_address = {self.accounts.get(k, k): v for k, v in statement_micro.items()}
        statements = {a: by_address.get(a, 0) for a in self.tracked}
        self.journal.write(self.dep.token.address, self.starting, statements)
        final = self.balances()
        supply = int(self.chain.call(self.dep.token, "totalSupply"))
        self.chain.close()
        found = verify_archive(self.folder)
        matching = sum(final[a] == self.starting[a] + statements[a] for a in self.tracked)
        return {
            "audit": "clean" if found is None else str(found),
            "accounts_checked": len(self.tracked),
            "balances_equal_statements": matching,
            "starting_supply_micro": self.starting_supply,
            "final_supply_micro": supply,
            "settlement_batches": self.batches,
            "token_postings": self.postings,
            "starting_balance_micro": {"prosumer": STARTING_PROSUMER_MICRO, "account": STARTING_ACCOUNT_MICRO},
            "addresses": dict(self.accounts),
            "balances_micro": {a: [self.starting[a], final[a]] for a in self.accounts.values()},
        }
