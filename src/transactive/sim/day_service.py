"""The simulated day through the service's own desks, in process, on a manual clock (issue 12 part B).

:class:`DayService` holds what ``transactive serve`` runs -- the :class:`~transactive.market.operator.Operator`
(intake, clearing), the :class:`~transactive.market.multi_desk.MultiDesk` (addresses, bilateral contracts,
listings and the DSO's power-flow review), the :class:`~transactive.market.negawatt_desk.NegawattDesk`
(the demand-response event) and the :class:`~transactive.market.ledger.desk.LedgerDesk` (custodial member
accounts, anchoring every cleared slot by Proof of Clearance, settling every slot by a MarketSlots settlement
slot that the validators recompute) -- over one store, and drives them as the members would: no HTTP, and no
settlement code of its own. :mod:`transactive.sim.day` decides *what* the members do (profiles, contracts,
listings, offers, bids); this module only calls the desks.

The store is SQLite in memory (the service's on-disk store fsyncs every order and reading; ``ledger verify``
reads only the archive and the chain). With a folder, the chain and the audit archive are ``folder`` (the
embedded chain in ``folder/chain``), so ``transactive ledger verify folder`` audits the day, settlement slots
included; without one the chain is in memory and nothing is archived. The day's chain runs on the
:data:`DAY_CHAIN_ENGINE` engine (revm: the same contracts and protocol as py-evm at a fraction of the cost;
docs/ledger.md, *Chain engines*).

The folder gets the marker :data:`DAY_MARKER` so that a later day may replace it -- and only a folder with that
marker (:func:`is_day_ledger`), never, say, a service's data directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from transactive.crypto.signing import Signer
from transactive.ledger.chain.constants import REVM
from transactive.market import ManualClock, Operator
from transactive.market.ledger.config import CLEARING, SETTLEMENT
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.market.ledger.documents import AnchorDocument, SettlementDocument
from transactive.market.ledger.sequence import has_multi_items
from transactive.market.multi_desk import MultiDesk
from transactive.market.multi_signing import sign_address, sign_contract
from transactive.market.negawatt_desk import NegawattDesk
from transactive.settlement.bilateral import BilateralContract
from transactive.settlement.listings import Board
from transactive.store import ChainAccount, Member, MultiStore, SlotState, open_store
from transactive.times import iso
from transactive.units import WH_PER_KWH, energy_to_wh

COMMUNITY = "feeder"
DSO_ID = "dso"
AGGREGATOR_ID = "aggregator"
DAY_MARKER = "transactive-day.json"
DAY_MARKER_FORMATS = ("transactive.day-ledger/1", "transactive.day-ledger/2")  # /1: before the service's desks
DAY_CHAIN_ENGINE = REVM
"""The in-process chain engine of a new day's ledger (LedgerConfig.chain_engine)."""
START_TOKENS = 100  # tokens minted to every member account at enrolment (LedgerConfig.start_tokens)
SELLER_FIELDS = ("distance_pref_m", "a", "b", "c")
BUYER_FIELDS = ("distance_pref_m", "omega", "alpha")


def is_day_ledger(folder: Path) -> bool:
    """Whether ``folder`` is a simulated day's ledger folder (it holds :data:`DAY_MARKER`), which a new day may
    delete and replace."""
    try:
        marker = json.loads((folder / DAY_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("format") in DAY_MARKER_FORMATS


class DayService:
    """One community (``feeder``) of the service in process: its members are the day's prosumers (member id =
    the prosumer's address), a ``dso`` and an ``aggregator``. ``mechanism`` is the community's auction;
    ``role_keys`` the DSO's and the aggregator's private keys (the day derives them from its seed), else the
    ledger desk gives them random custodial keys as the service does."""

    def __init__(self, mechanism: str, slot_minutes: int, started: datetime, folder: Path | None,
                 params: Mapping[str, Any] | None = None, *, role_keys: tuple[bytes, bytes] | None = None) -> None:
        self.clock = ManualClock(started)
        self.store: MultiStore = open_store(url="sqlite://")
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / DAY_MARKER).write_text(json.dumps({"format": DAY_MARKER_FORMATS[-1]}) + "\n", encoding="utf-8")
        config = LedgerConfig(chain_dir=None if folder is None else folder / "chain", archive_dir=folder,
                              chain_engine=DAY_CHAIN_ENGINE, start_tokens=START_TOKENS)
        self.folder = folder
        self.slot_minutes = slot_minutes
        try:
            self.ledger = LedgerDesk(self.store, config, started=started)
        except BaseException:
            self.store.close()
            raise
        self.operator = Operator(self.store, self.clock)
        self.operator.ledger = self.ledger
        self.multi = MultiDesk(self.operator, self.store)
        self.negawatt = NegawattDesk(self.operator)
        self.operator.create_community(COMMUNITY, mechanism, dict(params or {}), slot_minutes)
        # their chain accounts: enrolled with the prosumers' in one batch (enrol)
        self.dso, _ = self.operator.add_member(COMMUNITY, DSO_ID, "dso", bus="substation", enrol=False)
        self.aggregator, _ = self.operator.add_member(COMMUNITY, AGGREGATOR_ID, "aggregator", bus="substation",
                                                      enrol=False)
        if role_keys is not None:  # the day's own keys for them (deterministic), else the desk draws custodial ones
            self.store.put_chain_accounts([ChainAccount(member, Signer(key).address, key.hex())
                                           for member, key in zip((DSO_ID, AGGREGATOR_ID), role_keys, strict=True)])
        self.members: dict[str, Member] = {}

    def close(self) -> None:
        self.ledger.close()
        self.store.close()

    # ------------------------------------------------------------------------------ before the day
    def enrol(self, keys: Sequence[bytes], buses: Sequence[str | None]) -> None:
        """Every prosumer becomes a member (id = its address, its feeder bus) and registers its address (signed
        with its key), through the operator and the multi-settlement desk; the ledger desk then enrols their
        custodial accounts with the DSO's and the aggregator's in one batch (Registry role and bus,
        :data:`START_TOKENS` minted, MarketSlots approved: five transactions, docs/ledger.md)."""
        for key, bus in zip(keys, buses, strict=True):
            peer = Signer(key).address
            member, _ = self.operator.add_member(COMMUNITY, peer, "prosumer", bus=bus, enrol=False)
            self.members[peer] = member
            self.multi.register_address(member, COMMUNITY, {
                "address": peer, "signature": sign_address(key, COMMUNITY, peer, self.multi.domain)})
        self.ledger.enrol_many([self.dso, self.aggregator, *self.members.values()])

    def sign_contracts(self, contracts: Sequence[BilateralContract], keys: Mapping[str, bytes],
                       starts: Sequence[datetime]) -> None:
        """Each contract proposed by its seller and countersigned by its buyer (EIP-712, the chain's domain)."""
        for c in contracts:
            terms = {"slot_starts": [iso(starts[s]) for s in c.slots], "energy_kwh_per_slot": c.energy_kwh_per_slot,
                     "price_per_kwh": c.price_per_kwh, "nonce": c.nonce}
            seller_key, buyer_key = keys[c.seller], keys[c.buyer]
            self.multi.propose(self.members[c.seller], COMMUNITY, {
                "id": c.contract_id, "seller": c.seller, "buyer": c.buyer, **terms,
                "signature": sign_contract(seller_key, terms, c.seller, c.buyer, self.multi.domain)})
            self.multi.countersign(self.members[c.buyer], COMMUNITY, c.contract_id,
                                   {"signature": sign_contract(buyer_key, terms, c.seller, c.buyer,
                                                               self.multi.domain)})

    # ------------------------------------------------------------------------------ each slot
    def list_and_review(self, start: datetime, board: Board, power_flow: bool) -> list[str]:
        """The board's listings and orders posted by their members while ``start`` takes orders, each order then
        decided by the DSO (``power_flow``: by a power flow on the feeder, else accepted). Answers the ids of
        the accepted orders."""
        self.clock.set(start - timedelta(minutes=10))
        for x in board.listings:
            self.multi.create_listing(self.members[x.seller], COMMUNITY, {
                "id": x.listing_id, "slot_start": iso(start), "energy_kwh": energy_to_wh(x.energy_kwh) / WH_PER_KWH,
                "price_per_kwh": x.price_per_kwh})
        accepted = []
        for o in board.orders:
            self.multi.place_order(self.members[o.buyer], COMMUNITY, o.listing_id,
                                   {"id": o.order_id, "energy_kwh": energy_to_wh(o.energy_kwh) / WH_PER_KWH})
            decided = self.multi.review(self.dso, COMMUNITY, o.order_id,
                                        {"decision": "power_flow" if power_flow else "accept"})
            if decided["state"] == "accepted":
                accepted.append(o.order_id)
        return accepted

    def bid(self, start: datetime, orders: Mapping[str, tuple[int, float]],
            attributes: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Each member's auction order through the operator's intake: ``orders[member] = (energy_wh, limit
        price in tokens/kWh)``, energy > 0 to sell, < 0 to buy (0: no order), with the member's grid attributes
        for a grid-aware mechanism. Validated and window-checked one by one (``prepare_order``, ``accept``) and
        stored in one commit, as the service's MQTT gateway stores a burst (``OrderIntake.submit_batch_async``);
        each answered as the service answers it (a refused order raises its ``MarketError``)."""
        self.clock.set(start - timedelta(minutes=10))
        prepared = []
        for peer, (wh, price) in orders.items():
            if not wh:
                continue
            sell = wh > 0
            extra = {} if attributes is None else {f: attributes[peer][f]
                                                   for f in (SELLER_FIELDS if sell else BUYER_FIELDS)}
            order = self.operator.prepare_order(self.members[peer], COMMUNITY, {
                "side": "sell" if sell else "buy", "slot_start": iso(start), "idempotency_key": iso(start),
                "energy_kwh": abs(wh) / WH_PER_KWH, "price_per_kwh": price, **extra})
            if self.operator.accept(order) is None:
                prepared.append(order)
        for order, (outcome, stored) in zip(prepared, self.store.put_orders(prepared), strict=True):
            self.operator.answer(order, outcome, stored)

    def clear_and_anchor(self, start: datetime) -> bool:
        """The operator clears the slot and the ledger desk anchors it (Proof of Clearance). False: void."""
        if self.operator.clear_slot(COMMUNITY, start).state is not SlotState.CLEARED:
            return False
        anchored = self.ledger.anchor(COMMUNITY, iso(start))
        if anchored.state != "anchored":
            raise RuntimeError(f"slot {iso(start)} not anchored: {AnchorDocument.from_json(anchored.document).note}")
        return True

    def read_meters(self, start: datetime, metered_kwh: Mapping[str, float]) -> None:
        """Every member sends its meter reading once the slot has ended (one burst through the operator, as the
        service's gateway takes many readings at once)."""
        self.clock.set(start + timedelta(minutes=self.slot_minutes, seconds=1))
        self.operator.submit_meter_readings(COMMUNITY, [
            (self.members[peer], {"slot_start": iso(start), "energy_kwh": energy_to_wh(kwh) / WH_PER_KWH})
            for peer, kwh in metered_kwh.items()])

    def settle(self, start: datetime, cleared: bool) -> dict[str, Any] | None:
        """The ledger desk settles the slot (settlement slot, validators' recomputation, ``submit_and_settle``);
        answers the multi-settlement desk's stored document of it (None: nothing to settle). A void slot
        settles too when it has contracts, listings or auction orders (whose members the grid stage settles)."""
        if not cleared and not has_multi_items(self.store, COMMUNITY, iso(start)) and \
                not self.store.orders_in_slot(COMMUNITY, iso(start)):
            return None
        settled = self.ledger.settle(COMMUNITY, iso(start), self.clock.now())
        if settled.state != "settled":
            raise RuntimeError(f"slot {iso(start)} not settled: {SettlementDocument.from_json(settled.document).note}")
        return dict(self.multi.statement(self.dso, COMMUNITY, iso(start)))

    def anchored_entries(self, start: datetime) -> list[tuple[str, int, int]]:
        """The anchored clearing's endorsed result entries ``(member, energy_wh, amount_micro)`` (members by
        their custodial account)."""
        rec = self.store.get_ledger_slot(COMMUNITY, iso(start), CLEARING)
        assert rec is not None
        member_of = {a.address.lower(): a.member for a in self.store.chain_accounts(COMMUNITY)}
        return [(member_of.get(e.account.lower(), e.account), e.energy_wh, e.amount_micro)
                for e in AnchorDocument.from_json(rec.document).results]

    def dso_income(self, start: datetime) -> Mapping[str, Any]:
        """The DSO's breakdown of a settled slot (``tariffs_micro``: the auction's grid charges, ...)."""
        rec = self.store.get_ledger_slot(COMMUNITY, iso(start), SETTLEMENT)
        return {} if rec is None else dict(SettlementDocument.from_json(rec.document).dso or {})

    # ------------------------------------------------------------------------------ the chain
    def account(self, member_id: str) -> str:
        """A member's custodial chain account."""
        found = self.store.chain_account(member_id)
        assert found is not None
        return found.address

    def balance_micro(self, address: str) -> int:
        return self.ledger.balance_micro(address)
