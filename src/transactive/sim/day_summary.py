"""The simulated day's settled slots and its digest (:func:`transactive.sim.day.run_day`'s last part).

:class:`DaySlot` is one slot as the service settled it; :func:`statement_sums` adds up every prosumer's and
every account's statements over the day; :func:`chain_summary` checks every on-chain balance against its
starting tokens plus its statements and runs the audit of the archive (``transactive ledger verify``);
:func:`summarise` is the day's digest (energy by stage, money by account, conservation checks, the
demand-response event, the ledger) that ``summary.json`` and the report show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.negawatt import NegawattEvent
from transactive.settlement.stages import STAGES, StageLine, Statement
from transactive.sim.day_service import COMMUNITY, START_TOKENS, DayService
from transactive.sim.profiles import FloatArray
from transactive.units import MICRO_PER_TOKEN, energy_to_wh, wh_to_kwh

if TYPE_CHECKING:
    from transactive.sim.day import DayConfig

SETTLEMENT_ACCOUNTS = ("dso", "board", "auctioneer", "grid")  # a settled slot's accounts (the DSO's on chain)
FUND = "fund"  # the community market fund (docs/settlement.md; on chain the ledger desk's own account)
DAY_ACCOUNTS = (*SETTLEMENT_ACCOUNTS, FUND, "aggregator", "balancing")


@dataclass(frozen=True)
class DaySlot:
    """One slot as the service settled it (the multi-settlement desk's stored document): the statements of
    the members settled in it (peer = member id = address; the parties: auction traders, contract and listing
    parties), the accounts (micro-tokens, > 0 received), the auction's price and the DSO's grid charges."""

    slot: int
    slot_start: str
    statements: tuple[Statement, ...]
    accounts: Mapping[str, int]
    price_per_kwh: float | None
    grid_charge_micro: int
    anchored: bool

    @property
    def balance_micro(self) -> int:
        return sum(s.money_micro for s in self.statements) + sum(self.accounts.values())

    @classmethod
    def from_document(cls, slot: int, slot_start: str, doc: Mapping[str, Any] | None, grid_charge_micro: int,
                      anchored: bool) -> DaySlot:
        if doc is None:  # nothing to settle (no contract, no listing, no clearing)
            return cls(slot, slot_start, (), dict.fromkeys((*SETTLEMENT_ACCOUNTS, FUND), 0), None, 0, anchored)
        statements = tuple(Statement(str(m["member"]), int(m["net_wh"]), {
            stage: StageLine(int(line["sold_wh"]), int(line["bought_wh"]), int(line["money_micro"]))
            for stage, line in m["stages"].items()}) for m in doc["members"])
        price = doc["auction"].get("price_per_kwh")
        return cls(slot, slot_start, statements,
                   {a: int(doc["accounts"].get(a, 0)) for a in (*SETTLEMENT_ACCOUNTS, FUND)},
                   None if price is None else float(price), grid_charge_micro, anchored)


def statement_sums(
    peers: Sequence[str], slots: Sequence[DaySlot], event: NegawattEvent | None
) -> tuple[dict[str, int], dict[str, int]]:
    """Every prosumer's and every account's (:data:`DAY_ACCOUNTS`) statement sum over the day, micro-tokens
    (> 0 received): the settled slots' statements and accounts plus the demand-response event's postings."""
    money = dict.fromkeys(DAY_ACCOUNTS, 0)
    peer_money = dict.fromkeys(peers, 0)
    for x in slots:
        for s in x.statements:
            peer_money[s.peer] += s.money_micro
        for account, value in x.accounts.items():
            money[account] += value
    if event is not None and event.settlement is not None:
        for p in event.settlement["postings"]:
            account, value = str(p["account"]), int(p["amount_micro"])
            if account.startswith("member:"):
                peer_money[account.removeprefix("member:")] += value
            elif account.startswith("aggregator:"):
                money["aggregator"] += value
            else:
                money["balancing"] += value
    return peer_money, money


def chain_summary(service: DayService, peers: Sequence[str], slots: Sequence[DaySlot],  # noqa: PLR0917
                   event: NegawattEvent | None, folder: Path | None, validators_start_micro: int) -> dict[str, Any]:
    """The ledger's figures: every account's on-chain balance against its starting tokens plus its statement
    sum (members' custodial accounts; the DSO's account takes the settlement accounts but the auctioneer's and
    ``balancing``; the validators together, from ``validators_start_micro``, the auctioneer's wholesale fees),
    the token supply, and the audit of the archive (``transactive ledger verify``'s function)."""
    peer_money, money = statement_sums(peers, slots, event)
    start = START_TOKENS * MICRO_PER_TOKEN
    expected = {service.account(p): start + peer_money[p] for p in peers}
    dso = service.ledger.dso_address(COMMUNITY)
    # the auctioneer's wholesale fees go to each settlement slot's auctioneer validator, the rest to the DSO
    expected[dso] = start + sum(money[a] for a in (*SETTLEMENT_ACCOUNTS, "balancing") if a != "auctioneer")
    expected[service.account(service.aggregator.id)] = start + money["aggregator"]
    expected[service.ledger.admin] = start + money[FUND]  # the fund: the desk's account, minted like a member's
    balances = {a: service.balance_micro(a) for a in expected}
    validators = [v.address for v in service.ledger.validators]
    validators_now = sum(service.balance_micro(a) for a in validators)
    validators_ok = validators_now == validators_start_micro + money["auctioneer"]
    ledger = service.ledger
    supply = int(ledger.chain.call(ledger.token, "totalSupply"))
    audit = "not run (no ledger folder)"
    if folder is not None:
        from transactive.ledger.audit.audit import verify_archive

        found = verify_archive(folder, chain=ledger.chain)
        audit = "clean" if found is None else f"discrepancy: {found}"
    return {
        "audit": audit,
        "slots_anchored": sum(x.anchored for x in slots),
        "slots_settled": sum(1 for x in slots if x.statements),
        "accounts_checked": len(expected) + 1,  # + the validators together (the auctioneers' fees)
        "balances_equal_statements": sum(balances[a] == v for a, v in expected.items()) + validators_ok,
        "auctioneer_fees_micro": {"validators_start": validators_start_micro, "validators_now": validators_now,
                                  "fees": money["auctioneer"]},
        "starting_balance_micro": start,
        "token_supply_micro": supply,
        "addresses": {"dso": dso, "aggregator": service.account(service.aggregator.id)},
        "balances_micro": {a: (start, balances[a]) for a in (dso, service.account(service.aggregator.id))},
        "on_chain": "per slot: the auction's orders (custodial signatures) anchored by Proof of Clearance (4 "
                    "validators, 3 must agree), then one MarketSlots settlement slot -- bilateral contracts, "
                    "listings, the anchored clearing against the meters and the grid, recomputed and endorsed by "
                    "the validators, submitted and paid in one transaction (MarketSlots.submit_and_settle); the "
                    "demand-response event by EnergyToken.settle",
    }


def summarise(  # noqa: PLR0917 - the day's parts
    config: DayConfig, peers: Sequence[str], slots: Sequence[DaySlot], event: NegawattEvent | None,
    chain: Mapping[str, Any], net_kwh: FloatArray,
) -> dict[str, Any]:
    """The day's digest: energy by stage, money by account, conservation checks, the event, the ledger."""
    energy: dict[str, float] = {}
    for stage in STAGES:
        sold = sum(s.stages[stage].sold_wh for x in slots for s in x.statements)
        bought = sum(s.stages[stage].bought_wh for x in slots for s in x.statements)
        if stage == "grid":
            energy["grid export"], energy["grid import"] = wh_to_kwh(sold), wh_to_kwh(bought)
        else:
            energy[stage] = wh_to_kwh(sold)
    index = {p: k for k, p in enumerate(peers)}
    outside = 0
    for x in slots:  # members without an order, contract or listing order in the slot are not settled
        settled = {s.peer for s in x.statements}
        outside += sum(abs(energy_to_wh(float(net_kwh[index[p], x.slot]))) for p in peers if p not in settled)
    # the auction is settled against the meters (eqs. 4.8-4.9): what sellers metered beyond what buyers
    # metered is the DSO's imbalance, so the auction stage's Wh need not balance
    energy["auction imbalance (sold − bought, to the DSO)"] = wh_to_kwh(
        sum(s.stages["auction"].sold_wh - s.stages["auction"].bought_wh for x in slots for s in x.statements))
    energy["not settled (no order, contract or listing)"] = wh_to_kwh(outside)
    peer_money, accounts = statement_sums(peers, slots, event)
    money = {"prosumers": sum(peer_money.values()), **accounts}
    dr: dict[str, Any] = {"ran": False}
    if event is not None and event.settlement is not None and event.clearing is not None:
        postings = [int(p["amount_micro"]) for p in event.settlement["postings"]]
        dr = {
            "ran": True, "window_slots": list(config.dr_window), "target_kwh": event.spec.target_kwh,
            "reserve_per_kwh": event.spec.price_per_kwh, "offers": len(event.offers),
            "winners": [{"id": r["id"], "sold_kwh": r["energy_kwh"], "payment": r["payment"]}
                        for r in event.clearing["sellers"] if r["energy_kwh"] > 0],
            "fallback_kwh": float(event.clearing["details"].get("fallback_kwh", 0.0)),
            "verification": list(event.settlement["verification"]),
            "secondary": list(event.settlement["secondary"]),
            "penalties": list(event.settlement["penalties"]),
            "postings_sum_micro": sum(postings),
        }
    checks = {
        "every slot balances to 0 micro-tokens": all(x.balance_micro == 0 for x in slots),
        "day's money sums to 0 micro-tokens": sum(money.values()) == 0,
        "every settled member's trades equal its metered net position (Wh)": all(
            s.traded_wh == s.net_wh == energy_to_wh(float(net_kwh[index[s.peer], x.slot]))
            for x in slots for s in x.statements),
        "bilateral and listings each sell what they buy (Wh)": all(
            sum(s.stages[g].sold_wh for s in x.statements) == sum(s.stages[g].bought_wh for s in x.statements)
            for x in slots for g in ("bilateral", "listings")),
        "on-chain token balances equal starting balance + statements (micro-token)": (
            chain["balances_equal_statements"] == chain["accounts_checked"]),
    }
    prices = [x.price_per_kwh for x in slots if x.price_per_kwh is not None]
    charges = [x.grid_charge_micro for x in slots]
    series = config.wholesale_series()
    return {
        "date": config.date, "slots": config.n_slots, "slot_minutes": config.slot_minutes, "seed": config.seed,
        "prosumers": len(peers), "mechanism": config.mechanism,
        "energy_kwh": energy, "money_micro": money, "checks": checks, "demand_response": dr, "ledger": dict(chain),
        "grid_charges_micro": {"total": sum(charges), "per_slot": charges},
        "auction_slots": len(prices),
        "strategy": config.strategy,
        # the price series (tokens/kWh): the auction's per slot (None: void slot) against the grid's
        "prices_per_kwh": {"auction": [x.price_per_kwh for x in slots], "feed_in": GridTariff().feed_in_per_kwh,
                           "retail": GridTariff().retail_per_kwh,
                           "wholesale": None if series is None else [
                               series.price_at(config.day0 + timedelta(minutes=config.slot_minutes * x.slot))
                               for x in slots]},
        "grid": {"option": config.grid, "wholesale_source": None if series is None else series.source,
                 "wholesale_fee_per_kwh": None if series is None else series.fee_per_kwh},
        "mean_auction_price_per_kwh": float(np.mean(prices)) if prices else None,
        "peer_money_micro": peer_money,
        "params": dict(config.params),
        # the community market fund (docs/settlement.md): its balance and per-slot history
        "fund": {"balance_micro": sum(x.accounts[FUND] for x in slots),
                 "slots": [{"slot": x.slot, "fund_micro": x.accounts[FUND]} for x in slots if x.accounts[FUND]]},
    }
