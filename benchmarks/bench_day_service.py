"""Measure the simulated day's slots through the service's own operator and ledger desk, in process.

Issue 12 part B wants ``transactive day`` to drive the ``Operator``, ``MultiDesk`` and ``LedgerDesk`` that
``transactive serve`` runs (on a manual clock, no HTTP) instead of its own ``EnergyToken.settle`` batches.
This benchmark is the measurement for that change, not the change: the day's prosumers (IEEE European LV
feeder, synthetic profiles, ``DayConfig`` defaults) become members of one community (``dpda_matched``),
register their addresses and sign the day's two bilateral contracts through the ``MultiDesk``; then per
slot every prosumer with a metered residual after the contracts posts an auction order (its residual, at
0.015 to sell / 0.1 to buy, with its grid attributes), the operator clears the slot, the desk anchors it
(custodial signatures, Proof of Clearance), every prosumer sends its meter reading, and the desk settles
the slot (settlement input, 4 validators recompute the sequence, ``settle_batch``). Not yet included:
listings and the DSO's review, the demand-response event, the report.

It prints the seconds per step and the CPU seconds of the process; ``--memory`` keeps the store in memory
(the service's SQLite store commits with ``synchronous=FULL``, one fsync per order and reading).

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_day_service.py [--slots 16] [--memory] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from transactive.crypto.signing import Signer
from transactive.grid.feeder import load_feeder
from transactive.market import ManualClock, Operator
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.market.ledger.sequence import has_multi_items
from transactive.market.multi_desk import MultiDesk
from transactive.market.multi_signing import sign_address, sign_contract
from transactive.sim import day as sim_day
from transactive.store import SlotState, open_store
from transactive.times import iso
from transactive.units import energy_to_wh

SELLER_FIELDS = ("distance_pref_m", "a", "b", "c")
BUYER_FIELDS = ("distance_pref_m", "omega", "alpha")


def run(n_slots: int, folder: Path, memory: bool) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    config = sim_day.DayConfig(n_slots=n_slots)
    buses = tuple(load_feeder().load_buses)
    raw_keys = sim_day._peer_keys(config.seed, len(buses))  # the day's keys
    peers = tuple(Signer(k).address for k in raw_keys)
    profiles, _ = sim_day.make_profiles(config, len(buses))
    net = profiles.pv_kwh[:, :n_slots] - profiles.load_kwh[:, :n_slots]
    attributes = sim_day.prosumer_attributes(config.seed, buses)
    day0 = datetime.strptime(config.date, "%Y-%m-%d").replace(tzinfo=UTC)
    clock = ManualClock(day0 - timedelta(days=1))
    store = open_store(url="sqlite://") if memory else open_store(folder)
    desk = LedgerDesk(store, LedgerConfig(chain_dir=folder / "chain", archive_dir=folder, start_tokens=100),
                      started=clock.now())
    operator = Operator(store, clock)
    operator.ledger = desk
    multi = MultiDesk(operator, store)
    community = "feeder"
    operator.create_community(community, config.mechanism, {}, config.slot_minutes)
    members = {p: operator.add_member(community, p, "prosumer", bus=bus)[0]
               for p, bus in zip(peers, buses, strict=True)}
    operator.add_member(community, "dso", "dso", bus="substation")
    for key, peer in zip(raw_keys, peers, strict=True):
        multi.register_address(members[peer], community, {
            "address": peer, "signature": sign_address(key, community, peer, multi.domain)})
    times = {"set-up (members, accounts, addresses)": time.perf_counter() - started}
    starts = [day0 + timedelta(minutes=config.slot_minutes * s) for s in range(n_slots)]
    index = {p: k for k, p in enumerate(peers)}
    contracts = sim_day._contracts(config, peers, profiles)  # the day's two contracts
    for c in contracts:
        terms = {"slot_starts": [iso(starts[s]) for s in c.slots], "energy_kwh_per_slot": c.energy_kwh_per_slot,
                 "price_per_kwh": c.price_per_kwh, "nonce": c.nonce}
        seller_key, buyer_key = raw_keys[index[c.seller]], raw_keys[index[c.buyer]]
        multi.propose(members[c.seller], community, {
            "id": c.contract_id, "seller": c.seller, "buyer": c.buyer, **terms,
            "signature": sign_contract(seller_key, terms, c.seller, c.buyer, multi.domain)})
        multi.countersign(members[c.buyer], community, c.contract_id,
                          {"signature": sign_contract(buyer_key, terms, c.seller, c.buyer, multi.domain)})
    steps = dict.fromkeys(("auction orders", "clear", "anchor (Proof of Clearance)", "meter readings",
                           "settle (settlement slot on chain)"), 0.0)
    for s, start in enumerate(starts):
        t = time.perf_counter()
        clock.set(start - timedelta(minutes=10))
        residual = [energy_to_wh(float(net[k, s])) for k in range(len(peers))]
        for c in contracts:
            residual[index[c.seller]] -= c.delivery_wh(s)
            residual[index[c.buyer]] += c.delivery_wh(s)
        for k, p in enumerate(peers):
            if residual[k]:
                sell = residual[k] > 0
                fields = SELLER_FIELDS if sell else BUYER_FIELDS
                operator.submit_order(members[p], community, {
                    "side": "sell" if sell else "buy", "slot_start": iso(start), "idempotency_key": f"slot-{s}",
                    "energy_kwh": abs(residual[k]) / 1000, "price_per_kwh": 0.015 if sell else 0.1,
                    **{f: attributes[k][f] for f in fields}})
        t, steps["auction orders"] = time.perf_counter(), steps["auction orders"] + time.perf_counter() - t
        cleared = operator.clear_slot(community, start).state is SlotState.CLEARED  # else void (e.g. no buyer)
        t, steps["clear"] = time.perf_counter(), steps["clear"] + time.perf_counter() - t
        if cleared:
            anchored = desk.anchor(community, iso(start))
            assert anchored.state == "anchored", anchored.document.get("note")
        t, steps["anchor (Proof of Clearance)"] = (time.perf_counter(),
                                                   steps["anchor (Proof of Clearance)"] + time.perf_counter() - t)
        clock.set(start + timedelta(minutes=config.slot_minutes, seconds=1))
        for k, p in enumerate(peers):
            operator.submit_meter_reading(members[p], community, {
                "slot_start": iso(start), "energy_kwh": energy_to_wh(float(net[k, s])) / 1000})
        t, steps["meter readings"] = time.perf_counter(), steps["meter readings"] + time.perf_counter() - t
        if cleared or has_multi_items(store, community, iso(start)):  # a void slot settles its contracts
            settled = desk.settle(community, iso(start), clock.now())
            assert settled.state == "settled", settled.document.get("note")
        steps["settle (settlement slot on chain)"] += time.perf_counter() - t
    desk.close()
    store.close()
    times.update(steps)
    times["total"] = time.perf_counter() - started
    times["CPU seconds (this process)"] = time.process_time() - cpu
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--memory", action="store_true", help="the store in memory (no fsync per write)")
    parser.add_argument("--out", type=Path, default=None, help="data directory (default: a temporary one)")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench-day-service-"))
    try:
        times = run(args.slots, folder, args.memory)
    finally:
        if args.out is None:
            shutil.rmtree(folder, ignore_errors=True)
    for step, seconds in times.items():
        print(f"{step:40s} {seconds:8.2f} s")
    print(f"per slot (excluding set-up)              {(times['total'] - times[next(iter(times))]) / args.slots:8.3f} s")


if __name__ == "__main__":
    main()
