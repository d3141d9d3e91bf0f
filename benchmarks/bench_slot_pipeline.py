"""Benchmark one slot through the service's whole pipeline on the embedded chain: cleared, signed, committed,
endorsed, anchored and settled against meter readings.

Two communities, both through the operator and the ledger desk of ``transactive serve`` (SQLite store in a
temporary folder, persisted embedded chain, 4 in-process validators, k = 3):

* **large**: N prosumers (10,000; ``--quick`` 1,000), half sellers, half buyers, ``dpda``; orders and meter
  readings already in the store. Settlement in Merkle-claims mode: the settlement root is endorsed and put
  on chain, and a sample of claims (``--claims``, default 10 debits + up to 10 credits) is executed.
* **feeder**: the 55 prosumers of the IEEE European LV feeder size, ``dpda``, settled in batch mode (one
  ``settle_batch``), every member fully enrolled.

Set-up (not timed): members, custodial accounts, orders and readings are bulk-inserted into the store; in
the large community only the accounts in the claims sample are enrolled on chain (Registry, tokens, gas,
approval: four transactions each), since the anchoring does not need the others on chain and enrolling
10,000 accounts one transaction at a time is set-up, not the slot.

CPU seconds per stage: this process plus the desk's worker processes (signature checks, parallel validators;
read from ``/proc``). Run an older version of ``src/`` with this script (``PYTHONPATH=old/src``) for a
side-by-side baseline: its anchoring CPU is then reported as one figure on the first anchoring row.

Baseline side by side: the naive route, one ``submit_result``-style transaction per order instead of one
order root (time per transaction measured on 50 and extrapolated to N).

Run: python benchmarks/bench_slot_pipeline.py [--quick] [--n N] [--claims K]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.crypto.signing import Signer
from transactive.grid.feeder import load_feeder
from transactive.ledger.messages.commitments import ResultEntry
from transactive.market import ManualClock, Operator
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk, claims_to_make
from transactive.market.ledger.documents import SettlementDocument
from transactive.result import ResultDocument
from transactive.store import OrderRecord, SqlStore, open_store
from transactive.store import _tables as t

SLOT = "2026-03-01T10:15:00Z"
LOAD_BUSES = list(load_feeder().load_buses)  # the IEEE European LV feeder's 55 load buses
T_ORDERS = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
T_CLEAR = datetime(2026, 3, 1, 10, 19, tzinfo=UTC)
T_SETTLE = datetime(2026, 3, 1, 10, 31, tzinfo=UTC)


def populate(store: SqlStore, op: Operator, community: str, n: int, seed: int, mechanism: str) -> list[str]:  # noqa: PLR0917
    """Members (with custodial accounts, on the feeder's load buses), one order each: bulk inserts."""
    op.create_community(community, mechanism, {}, 15)
    rng = random.Random(seed)
    ids = [f"{community}-{i}" for i in range(n)]
    keys = [rng.randbytes(32) for _ in ids]
    buses = [LOAD_BUSES[i % len(LOAD_BUSES)] for i in range(n)]
    with store.engine.begin() as conn:
        conn.execute(t.members.insert(), [{"id": m, "community": community, "role": "prosumer",
                                           "api_key_hash": uuid.uuid4().hex * 2, "bus": b}
                                          for m, b in zip(ids, buses, strict=True)])
        conn.execute(t.chain_accounts.insert(), [{"member": m, "address": Signer(k).address, "private_key": k.hex(),
                                                  "enrolled": False} for m, k in zip(ids, keys, strict=True)])
    orders = []
    for i, m in enumerate(ids):
        sell = i % 2 == 0
        entry: dict[str, Any] = {
            "energy_kwh": round(rng.uniform(0.5, 5.0), 3),
            "price_per_kwh": round(rng.uniform(0.05, 0.20) if sell else rng.uniform(0.10, 0.30), 4)}
        if mechanism.endswith("_matched"):  # the grid attributes (docs/grid.md)
            entry |= {"bus": buses[i], "distance_pref_m": 150.0}
            entry |= {"a": 0.01, "b": 1.0, "c": 0.5} if sell else {"omega": 60.0, "alpha": 0.2}
        orders.append(OrderRecord(str(uuid.uuid4()), community, SLOT, m, "sellers" if sell else "buyers", entry, "k",
                                  "2026-03-01T10:00:00.000000Z"))
    store.put_orders(orders)
    return ids


def read_meters(store: SqlStore, community: str, seed: int) -> None:
    """A reading for every trader: its cleared energy ±10 % (sellers export, buyers import)."""
    rng = random.Random(seed)
    result = store.get_result(community, SLOT)
    assert result is not None
    rows = []
    cleared = ResultDocument.from_json(result.document)
    for side, sign in ((cleared.sellers, 1.0), (cleared.buyers, -1.0)):
        for r in side:
            if r.energy_kwh > 0:
                rows.append({"community": community, "member": r.id, "slot_start": SLOT,
                             "energy_kwh": sign * round(r.energy_kwh * rng.uniform(0.9, 1.1), 3),
                             "received_at": "2026-03-01T10:30:00.000000Z"})
    with store.engine.begin() as conn:
        conn.execute(t.meter_readings.insert(), rows)


def cpu_now(desk: LedgerDesk) -> float:
    """CPU seconds used so far by this process and the desk's live worker processes (Linux ``/proc``)."""
    total = time.process_time()
    for name in ("pool", "parallel_validators"):
        executor = getattr(getattr(desk, name, None), "_executor", None)
        for pid in list(getattr(executor, "_processes", None) or {}):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run(desk: LedgerDesk, op: Operator, store: SqlStore, community: str, claims: int | None
        ) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds and CPU seconds (this process + the desk's worker processes) per stage; a desk without
    per-stage CPU (an older version, for a side-by-side baseline) gets the anchoring's CPU as one figure."""
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    op.clock.set(T_CLEAR)  # type: ignore[attr-defined]
    t0, c0 = time.perf_counter(), time.process_time()
    slot = op.clear_slot(community, datetime.fromisoformat(SLOT))
    stages["clear + store result"] = time.perf_counter() - t0
    cpu["clear + store result"] = time.process_time() - c0
    assert slot.state.value == "cleared", slot
    c0 = cpu_now(desk)
    rec = desk.anchor(community, SLOT)
    anchor_cpu = cpu_now(desk) - c0
    assert rec.state == "anchored", rec.state
    stages.update(desk.timings)
    cpu.update(getattr(desk, "cpu_timings", None) or {"sign orders": anchor_cpu})
    read_meters(store, community, 7)
    op.clock.set(T_SETTLE)  # type: ignore[attr-defined]
    t0, c0 = time.perf_counter(), time.process_time()
    prepared = desk.prepare_settlement(community, SLOT, T_SETTLE)
    stages["settlement: input from readings + postings"] = time.perf_counter() - t0
    cpu["settlement: input from readings + postings"] = time.process_time() - c0
    if claims is not None:  # set-up: enrol the sampled accounts (not timed)
        postings = desk.settlement_postings(SettlementDocument.from_json(prepared.document).input)
        debits, credits = claims_to_make([ResultEntry(p.address, p.energy_wh, p.amount_micro) for p in postings],
                                         claims)
        owners = {a.address: a.member for a in store.chain_accounts(community)}
        for e in (*debits, *credits):
            if e.account in owners:
                member = store.get_member(owners[e.account])
                assert member is not None
                desk.enrol(member)
    done = desk.settle(community, SLOT, T_SETTLE, claims_sample=claims)
    assert done.state in ("settled", "sampled"), done.state
    stages.update({k: v for k, v in desk.timings.items() if not k.startswith("settlement: input")})
    cpu.update({k: v for k, v in getattr(desk, "cpu_timings", {}).items() if not k.startswith("settlement: input")})
    return stages, cpu


def naive_per_order_s(desk: LedgerDesk, samples: int = 50) -> float:
    """Seconds per transaction when every order is its own transaction (one registry write each)."""
    t0 = time.perf_counter()
    for i in range(samples):
        desk.chain.transact(desk.registry, "set_member", Signer(random.Random(i).randbytes(32)).address, 1,
                            b"\x00" * 32)
    return (time.perf_counter() - t0) / samples


def report(title: str, n: int, stages: dict[str, float], cpu: dict[str, float]) -> float:
    total = sum(stages.values())
    print(f"\n{title}: {n:,} prosumers")
    print(f"  {'stage':<58} {'wall':>10} {'CPU':>10}")
    for name, seconds in stages.items():
        print(f"  {name:<58} {seconds:8.3f} s {cpu.get(name, 0.0):8.3f} s")
    print(f"  {'total':<58} {total:8.3f} s {sum(cpu.values()):8.3f} s")
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 prosumers instead of 10,000")
    parser.add_argument("--n", type=int, default=None, help="prosumers in the large community")
    parser.add_argument("--claims", type=int, default=10, help="sampled debit (and credit) claims")
    parser.add_argument("--mechanism", default="dpda", choices=["dpda", "mcafee", "dpda_matched", "mcafee_matched"],
                        help="the communities' mechanism (default dpda; dpda_matched: the service's default, with "
                        "signed grid attributes)")
    args = parser.parse_args()
    n = args.n or (1_000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="bench-slot-") as tmp:
        store = open_store(data_dir=tmp)
        op = Operator(store, ManualClock(T_ORDERS))
        t0 = time.perf_counter()
        desk = LedgerDesk(store, LedgerConfig(chain_dir=Path(tmp) / "chain"))
        op.ledger = desk
        deploy_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        large_ids = populate(store, op, "large", n, 1, args.mechanism)
        if args.mechanism.endswith("_matched"):  # the Registry must confirm every signed bus (not enrolled else)
            bus_of = {m.id: m.bus or "" for m in store.list_members("large")}
            rows = [(a.address, bus_of[a.member].encode().ljust(32, b"\0")) for a in store.chain_accounts("large")]
            assert len(rows) == len(large_ids)
            for i in range(0, len(rows), 200):  # batch enrolment in the Registry (set_members, docs/ledger.md)
                desk.chain.transact(desk.registry, "set_members", [a for a, _ in rows[i:i + 200]], 1,
                                    [b for _, b in rows[i:i + 200]])
            t1 = time.perf_counter()  # a long-running service has read each member's Registry bus once
            desk.read_registry_buses([a.address for a in store.chain_accounts("large")])
            print(f"Registry buses of {n:,} members read once (the first grid-aware slot after a start): "
                  f"{time.perf_counter() - t1:.2f} s (not in the slot's stages below)")
        feeder = populate(store, op, "feeder", 55, 2, args.mechanism)
        for m in feeder:
            member = store.get_member(m)
            assert member is not None
            desk.enrol(member)
        desk.warm_up()  # a long-running service starts its signing workers once
        setup_s = time.perf_counter() - t0
        print(f"deploy {deploy_s:.2f} s; set-up (members, orders, 55 enrolments, Registry buses of a *_matched "
              f"large community) {setup_s:.2f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (timings scale with it)")
        large, large_cpu = run(desk, op, store, "large", args.claims)
        total_large = report(f"{args.mechanism}, large slot, claims mode ({args.claims} debit claims + credits they "
                             "fund)", n, large, large_cpu)
        small, small_cpu = run(desk, op, store, "feeder", None)
        report("feeder slot, batch mode (one settle_batch)", 55, small, small_cpu)
        per_tx = naive_per_order_s(desk)
        naive = per_tx * n
        print(f"\nbaseline: one transaction per order instead of one order root: {per_tx * 1000:.1f} ms x {n:,} = "
              f"{naive:.1f} s (extrapolated from 50) vs "
              f"{large['open + commit order root']:.3f} s ({naive / large['open + commit order root']:.0f}x)")
        validators = sum(v for k, v in large.items() if "validators" in k)
        critical = total_large - validators * 3 / 4
        goal = "met" if total_large <= 10.0 else "NOT met"
        print(f"goal: one slot of {n:,} prosumers in <= 10 s: {total_large:.2f} s ({goal}) with the 4 validators "
              f"one after the other in this process; {critical:.2f} s with each validator on its own machine "
              f"(one validator's recomputation on the critical path)")
        print(json.dumps({"n": n, "mechanism": args.mechanism, "load_average": round(os.getloadavg()[0], 2),
                          "large_total_s": round(total_large, 3), "large_cpu_s": round(sum(large_cpu.values()), 3),
                          "large_critical_path_s": round(critical, 3),
                          "feeder_total_s": round(sum(small.values()), 3)}))
        desk.close()
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
