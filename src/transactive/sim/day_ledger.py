"""The simulated day's ledger: an embedded chain where the day is cleared (Proof of Clearance) and settled in tokens.

:class:`DayLedger` lives in ``OUT/ledger`` (a :class:`~transactive.ledger.audit.audit.SlotArchive` with its chain):

0. the folder gets the marker :data:`DAY_MARKER` (``transactive-day.json``), so a later run may replace
   the folder -- and only a folder with that marker (:func:`is_day_ledger`), never, say, a service's data
   directory that also holds a ``ledger.json``;
1. **set-up** -- :func:`~transactive.ledger.chain.deploy.deploy_suite` (Registry, EnergyToken, MarketSlots,
   NegawattAuction; admin = the consortium operator, 4 validators with threshold 3), then the day's accounts
   become Registry members with addresses: every prosumer (``ROLE_PROSUMER``, its feeder bus), the ``dso``
   (the suite's DSO account, ``ROLE_DSO``), the ``aggregator`` (the suite's aggregator, ``ROLE_AGGREGATOR``)
   and the market accounts ``board``, ``auctioneer``, ``grid`` and ``balancing`` (``ROLE_MARKET``; each address
   is the last 20 bytes of ``keccak256("transactive-day/account/<name>")``, a hash, not a key: no private key
   for it is known to anyone, so nobody can sign for these accounts; their tokens move only by the admin's
   ``EnergyToken.settle``). Starting balances:
   :data:`STARTING_PROSUMER_MICRO` per prosumer and :data:`STARTING_ACCOUNT_MICRO` per account (the
   aggregator already holds that from the suite), minted and journaled;
2. **each slot** -- the auction stage's signed orders (and, for a grid-aware mechanism, the traders' signed
   attributes; the batch names the DSO) go through Proof of Clearance
   (:func:`transactive.ledger.clearance.protocol.run_slot`), then the slot's settlement is posted as one balanced
   ``EnergyToken.settle`` batch by the operator (:func:`transactive.ledger.audit.statements.post_batch`):
   bilateral, listings and grid from the statements, the auction stage from the **endorsed result entries**
   plus the rewards ``MarketSlots`` would pay (:func:`slot_postings`, :meth:`DayLedger.auction_postings`);
   the admin then marks the anchored slot settled off contract with that batch's reference
   (``MarketSlots.mark_settled_off_contract``: CLEARED -> SETTLED), so ``settle_batch`` can never move the
   slot's money a second time (the audit checks the mark);
3. **the demand-response event** -- its postings (members, aggregator, balancing) as one more batch after
   the event window's last slot;
4. **finish** -- the statement journal (starting balances; every account's statement sum, computed from the
   statements by the caller) is written and the archive is audited
   (:func:`transactive.ledger.audit.audit.verify_archive`, which checks the token balances against the statements).

The statements' auction stage and the validators' entries are computed by one definition
(:mod:`transactive.settlement.auction_entries`; the day settles with the slot's reward shares), so the
endorsed result equals the statements on every slot (:func:`endorsed_equals_statements`, counted in the
summary) and every account's on-chain balance equals its starting balance plus its statement sum to the
micro-token (the audit checks both: ``auction postings`` and ``balance``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transactive.settlement.negawatt import NegawattEvent
from transactive.settlement.stages import REWARD_ACCOUNTS, STAGES, RewardRates, SlotSettlement
from transactive.units import money_to_micro

if TYPE_CHECKING:  # the ledger extra is imported only when the day runs on chain
    from transactive.ledger.audit.proofs import SlotBatch
    from transactive.ledger.audit.statements import Posting
    from transactive.ledger.messages.attributes import SignedAttributes

STARTING_PROSUMER_MICRO = 100 * 10**6
STARTING_ACCOUNT_MICRO = 1_000 * 10**6
MARKET_ACCOUNTS = ("board", "auctioneer", "grid", "balancing", "fund")
DAY_MARKER = "transactive-day.json"
DAY_MARKER_FORMAT = "transactive.day-ledger/1"
DR_STAGE = "demand_response"


@dataclass(frozen=True)
class Cleared:
    """A slot after Proof of Clearance: the endorsed batch (its ``results`` are the endorsed entries), the
    slot's auctioneer (``validators[slot % n]``) and the miner whose submission was accepted."""

    batch: SlotBatch
    auctioneer: str
    miner: str


def endorsed_equals_statements(
    settlement: SlotSettlement, cleared: Cleared, accounts: Mapping[str, str], rewards: RewardRates
) -> bool:
    """Whether the chain's endorsed result is the statements' auction stage: every account's entry
    ``(energy_wh, amount_micro)`` equals its auction line (prosumers by address, the ``dso`` by its address;
    accounts with all zeros may be absent on either side), the statements leave the ``auctioneer`` no
    surplus, and their ``auctioneer_reward`` / ``miner_reward`` are the rewards of the entries' debits."""
    from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF, RewardShares, exchange_of

    lines = settlement.auction_lines()
    ours = {p.lower(): v for p, v in lines.items() if p not in ("dso", "fund", *REWARD_ACCOUNTS)}
    ours[accounts["dso"].lower()] = lines.get("dso", (0, 0))
    ours[FUND_LEAF.lower()] = lines.get("fund", (0, 0))
    theirs = {e.account.lower(): (e.energy_wh, e.amount_micro) for e in cleared.batch.results
              if e.account != ME_LEAF}
    nonzero = {k: v for k, v in ours.items() if v != (0, 0)}
    if nonzero != {k: v for k, v in theirs.items() if v != (0, 0)}:
        return False
    expected = RewardShares(rewards.auctioneer_ppm, rewards.miner_ppm).rewards_micro(exchange_of(cleared.batch.results))
    found = (lines.get("auctioneer_reward", (0, 0))[1], lines.get("miner_reward", (0, 0))[1])
    return found == expected


def market_account_address(name: str) -> str:
    """The address of a market account (``board``, ...): the last 20 bytes of
    ``keccak256("transactive-day/account/<name>")``, checksummed. It is a hash, not derived from a private
    key, so nobody can sign for it (finding a key for a given address is as hard as breaking the chain's
    accounts); only the admin's ``EnergyToken.settle`` moves its tokens."""
    from transactive.crypto.encoding import keccak256, to_checksum_address

    return to_checksum_address(keccak256(f"transactive-day/account/{name}".encode())[-20:])


def is_day_ledger(folder: Path) -> bool:
    """Whether ``folder`` is a simulated day's ledger folder (it holds :data:`DAY_MARKER`), which a new day
    may delete and replace."""
    try:
        marker = json.loads((folder / DAY_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("format") == DAY_MARKER_FORMAT


def slot_postings(
    settlement: SlotSettlement, accounts: Mapping[str, str], auction: Sequence[Posting] | None = None
) -> list[Posting]:
    """The slot's settlement as :class:`~transactive.ledger.audit.statements.Posting` rows, stage by stage: each
    prosumer's non-zero stage money and the accounts' share of the stage (``board`` and the ``dso``'s
    penalties in listings; the ``auctioneer``'s wholesale fee and the ``grid`` in grid).

    The auction stage is ``auction`` when given -- on the ledger, the slot's **endorsed result entries** and
    the Proof-of-Clearance rewards (:meth:`DayLedger.auction_postings`) -- else the statements' auction stage
    (:meth:`~transactive.settlement.stages.SlotSettlement.auction_lines`: prosumers, the ``dso``'s
    grid charges, the ``auctioneer``'s surplus, and ``auctioneer_reward`` / ``miner_reward`` when settled
    with rewards). ``accounts`` maps account names to addresses (prosumers are their own addresses). Sums to
    ``balance_micro`` (0) when the endorsed entries equal the statements."""
    from transactive.ledger.audit.statements import Posting

    rows: list[Posting] = []
    paid = settlement.auction_accounts
    for stage in STAGES:
        if stage == "auction" and auction is not None:
            rows += list(auction)
            continue
        for s in settlement.statements:
            money = s.stages[stage].money_micro
            if money:
                rows.append(Posting(stage, s.peer, money))
        if stage == "listings":
            rows.append(Posting(stage, accounts["board"], settlement.accounts["board"]))
            rows.append(Posting(stage, accounts["dso"], settlement.accounts["dso"] - paid.get("dso", 0)))
        elif stage == "auction":
            rows += [Posting(stage, accounts[name], value) for name, value in paid.items() if value]
        elif stage == "grid":
            rows.append(Posting(stage, accounts["auctioneer"], settlement.accounts["auctioneer"]))
            rows.append(Posting(stage, accounts["fund"], settlement.accounts["fund"] - paid.get("fund", 0)))
            rows.append(Posting(stage, accounts["grid"], settlement.accounts["grid"]))
    return [r for r in rows if r.amount_micro != 0]


def event_postings(event: NegawattEvent, accounts: Mapping[str, str]) -> list[Posting]:
    """The demand-response event's settlement postings: ``member:<peer>`` to the peer, ``aggregator:*`` to the
    aggregator, anything else to ``balancing``."""
    from transactive.ledger.audit.statements import Posting

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

    def __init__(
        self, folder: Path, keys: Sequence[bytes], buses: Sequence[str], rewards: RewardRates | None = None
    ) -> None:
        """``rewards``: the reward shares ``MarketSlots`` is deployed with (default 1 % + 1 %)."""
        from transactive.crypto.signing import Signer
        from transactive.ledger.audit.audit import SlotArchive
        from transactive.ledger.audit.statements import StatementJournal
        from transactive.ledger.chain.deploy import deploy_suite
        from transactive.ledger.chain.embedded import EmbeddedChain
        from transactive.ledger.clearance.protocol import Validator, domain_of

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DAY_MARKER).write_text(json.dumps({"format": DAY_MARKER_FORMAT}) + "\n", encoding="utf-8")
        self.archive = SlotArchive(folder)
        self.journal = StatementJournal(folder)
        self.chain = EmbeddedChain(self.archive.chain_dir)
        shares = rewards or RewardRates(10_000, 10_000)
        self.dep = deploy_suite(self.chain, shares.auctioneer_ppm, shares.miner_ppm)
        self.archive.create(registry=self.dep.registry.address, token=self.dep.token.address,
                            slots=self.dep.slots.address)
        self.archive.record_mint(10 * 1_000 * 10**6)  # deploy_suite mints 1,000 tokens to 10 accounts
        self.validators = [Validator(self.chain.private_key(v)) for v in self.dep.validators]
        self.domain = domain_of(self.chain, self.dep.slots)
        self.signers = [Signer(k) for k in keys]
        self.accounts = {"dso": self.dep.dso, "aggregator": self.dep.aggregator,
                         **{name: market_account_address(name) for name in MARKET_ACCOUNTS}}
        self.buses = tuple(buses)
        self._register(buses)
        self.starting = self.balances()
        self.starting_supply = int(self.chain.call(self.dep.token, "totalSupply"))
        slots = self.dep.slots
        self.rewards = RewardRates(int(self.chain.call(slots, "auctioneer_ppm")),
                                   int(self.chain.call(slots, "miner_ppm")))
        self.committed = 0
        self.skipped = 0
        self.matches = 0
        self.mismatched: list[int] = []
        self.dso_entries_micro = 0
        self.reward_micro: dict[str, int] = {}  # validator address -> its rewards from the statements
        self.bus_cache: dict[str, str] = {}  # trader -> its Registry bus (preflight of grid-aware slots)
        self.batches = 0
        self.postings = 0

    def _register(self, buses: Sequence[str]) -> None:
        from transactive.ledger.chain.constants import ROLE_MARKET, ROLE_PROSUMER
        from transactive.ledger.chain.deploy import bus

        c, reg, token = self.chain, self.dep.registry, self.dep.token
        funding: list[tuple[str, int]] = []
        for signer, name in zip(self.signers, buses, strict=True):
            c.transact(reg, "set_member", signer.address, ROLE_PROSUMER, bus(name))
            funding.append((signer.address, STARTING_PROSUMER_MICRO))
        for name in MARKET_ACCOUNTS:
            c.transact(reg, "set_member", self.accounts[name], ROLE_MARKET, bus(name))
        c.transact(self.dep.slots, "set_fund", self.accounts["fund"])  # the FUND_LEAF row's account
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

    def _post(self, label: str, rows: Sequence[Posting], slot: int | None = None) -> None:
        """One ``EnergyToken.settle`` batch (a slot has at most 55 x 4 + 7 = 227 postings, under the
        contract's 256), journaled (``slot``: the batch settles that slot's endorsed result, and the slot is
        then marked settled off contract with the batch's reference, so ``settle_batch`` cannot pay it
        again)."""
        from transactive.ledger.audit.statements import post_batch

        ref = post_batch(self.chain, self.dep.token, label, rows, slot=slot)
        self.journal.append(label, ref, rows, slot=slot)
        if slot is not None and any(r.amount_micro for r in rows):  # (nothing posted: nothing to settle twice)
            self.chain.transact(self.dep.slots, "mark_settled_off_contract", slot, ref)
        self.batches += 1
        self.postings += len(rows)

    def auction_postings(self, cleared: Cleared) -> list[Posting]:
        """The auction stage of a slot as the chain endorsed it: every result entry's amount (the fund's row
        to the day's ``fund`` account, the ME row moves nothing), then the rewards ``MarketSlots.settle_batch``
        would pay (``floor(ME x_A)`` to the slot's auctioneer, ``floor(ME x_M)`` to its miner)."""
        from transactive.ledger.audit.statements import Posting
        from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF, RewardShares, exchange_of

        fund = self.accounts["fund"]
        rows = [Posting("auction", fund if e.account == FUND_LEAF else e.account, e.amount_micro)
                for e in cleared.batch.results if e.account != ME_LEAF]
        shares = RewardShares(self.rewards.auctioneer_ppm, self.rewards.miner_ppm)
        reward_a, reward_m = shares.rewards_micro(exchange_of(cleared.batch.results))
        rows += [Posting("auction", cleared.auctioneer, reward_a), Posting("auction", cleared.miner, reward_m)]
        return [r for r in rows if r.amount_micro]

    def settle_slot(self, settlement: SlotSettlement, cleared: Cleared | None) -> None:
        """Post the slot's settlement as token transfers (one balanced batch): bilateral, listings and grid
        from the statements, the auction stage from the endorsed result (``cleared``; the statements' auction
        stage when the slot had no orders, then all zeros)."""
        accounts = dict(self.accounts)
        auction = None
        if cleared is not None:
            accounts.update(auctioneer_reward=cleared.auctioneer, miner_reward=cleared.miner)
            auction = self.auction_postings(cleared)
        for name in REWARD_ACCOUNTS:  # the statements' rewards, by the slot's validator addresses
            value = settlement.auction_accounts.get(name, 0)
            if value:
                self.reward_micro[accounts[name]] = self.reward_micro.get(accounts[name], 0) + value
        rows = slot_postings(settlement, accounts, auction)
        self._post(f"slot {settlement.slot}", rows, slot=None if cleared is None else settlement.slot)

    def settle_event(self, event: NegawattEvent) -> None:
        """Post the demand-response event's settlement as token transfers."""
        self._post(f"event {event.spec.id}", event_postings(event, self.accounts))

    def clear_slot(
        self, settlement: SlotSettlement, mechanism: str, attributes: Sequence[Mapping[str, str | float]] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Cleared | None:
        """Proof of Clearance of the slot's auction stage: one signed order per prosumer with a residual after
        bilateral and listings, at the limit ``settle_slot`` bids for it (0.015 to sell, 0.1 to buy); for a
        grid-aware mechanism also each trader's signed attributes (``attributes[k]``: prosumer ``k``'s bus,
        distance preference and welfare parameters, at batch resolution); the ``dso`` is the batch's DSO.
        Returns the endorsed batch with its auctioneer and miner (None when nobody had a residual), and
        counts the slot as matching when its endorsed entries equal the statements' auction stage."""
        from transactive.ledger.audit.proofs import SlotBatch
        from transactive.ledger.clearance.protocol import auctioneer_index, run_slot
        from transactive.ledger.messages.attributes import ParticipantAttributes, sign_attributes
        from transactive.ledger.messages.orders import OrderMessage, sign_order

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
            return None
        records: tuple[SignedAttributes, ...] = ()
        if attributes is not None:
            records = tuple(
                sign_attributes(self.signers[k], ParticipantAttributes.from_values(
                    self.signers[k].address, slot=slot, **attributes[k]), self.domain)  # type: ignore[arg-type]
                for k, _ in (*sells, *buys))
        batch = SlotBatch(self.domain, slot, orders, mechanism=mechanism, params=dict(params or {}), attributes=records,
                          dso=self.dep.dso)
        # the members register before the first slot and never move: the Registry's buses are read once
        final, _, miner = run_slot(self.chain, self.dep.slots, batch, self.validators, k=3, bus_cache=self.bus_cache)
        self.archive.save(final)
        self.committed += 1
        cleared = Cleared(final, self.validators[auctioneer_index(slot, len(self.validators))].address, miner)
        dso = self.dep.dso.lower()
        self.dso_entries_micro += sum(e.amount_micro for e in final.results if e.account.lower() == dso)
        if endorsed_equals_statements(settlement, cleared, self.accounts, self.rewards):
            self.matches += 1
        else:
            self.mismatched.append(slot)
        return cleared

    def finish(self, statement_micro: Mapping[str, int]) -> dict[str, Any]:
        """Write the statement journal (``statement_micro``: name or address -> the account's statement sum),
        compare the balances, close the chain and audit the archive. Returns the summary's token figures."""
        from transactive.ledger.audit.audit import verify_archive

        by_address = {self.accounts.get(k, k): v for k, v in statement_micro.items() if k not in REWARD_ACCOUNTS}
        for address, value in self.reward_micro.items():  # validators: the rewards of the slots they served
            by_address[address] = by_address.get(address, 0) + value
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
