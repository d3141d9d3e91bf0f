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
10,000 accounts one transaction at a time is set-up, not the slot. A grid-aware large community
(``*_matched``) is not put in the Registry either: the desk's bus cache (what a running service holds after
reading the Registry) gets the members' buses.

Signature checks: by default the set-up (not timed) also does what one earlier slot of these members leaves
behind -- every member's signature recovered once, so the validators' key cache holds their public keys and
this slot's signatures are batch-verified (the steady state of a community trading every slot);
``--first-sight`` skips it (every signature recovered). The one validator's machine is measured both ways.

CPU seconds per stage: this process plus the desk's worker processes (signature checks, parallel validators;
read from ``/proc``). Per machine role (intake: signing the orders; auctioneer: clearing, Registry check,
order root, commit, submit; one validator: the stored batch recomputed from scratch on the validator's machine
of 2 cores -- the signatures recovered in a worker process while it clears --, its root checked against the
endorsed one, also measured on one core; settlement: every settlement stage) and peak RSS (``getrusage``,
workers' ``VmHWM``).

Side by side (``--sizes 1000,10000,100000 --baseline-src OLD/src``): each size run by the old tree and by this
one, each in a fresh process (``TRANSACTIVE_BENCH_SRC`` selects the tree), then one table; a run that takes
longer than ``--timeout`` is reported as not finished. The old tree must have this layout (market/ledger/).

Baseline side by side: the naive route, one ``submit_result``-style transaction per order instead of one
order root (time per transaction measured on 50 and extrapolated to N).

Run: python benchmarks/bench_slot_pipeline.py [--quick] [--n N] [--claims K] [--mechanism dpda_matched]
     python benchmarks/bench_slot_pipeline.py --mechanism dpda_matched --sizes 1000,10000,100000 --baseline-src OLD/src
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# the tree under test: this one's src/, or a baseline's (--baseline-src)
sys.path.insert(0, os.environ.get("TRANSACTIVE_BENCH_SRC") or str(Path(__file__).resolve().parents[1] / "src"))

from transactive.crypto.signing import Signer, WorkerPool, recover_chunk

try:  # the key cache of the batch verification (issue 13); an older tree (side-by-side baseline) has none
    from transactive.crypto.signing import sign_digests
    from transactive.crypto.verification import forget_public_keys, verify_signers
except ImportError:  # pragma: no cover - a baseline tree
    forget_public_keys = verify_signers = sign_digests = None  # type: ignore[assignment]
from transactive.grid.feeder import load_feeder
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.clearance.protocol import recompute, slot_rewards
from transactive.ledger.messages.commitments import ResultEntry, result_tree
from transactive.market import ManualClock, Operator
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk, claims_to_make
from transactive.market.ledger.documents import AnchorDocument, SettlementDocument
from transactive.result import ResultDocument
from transactive.store import ChainAccount, OrderRecord, SqlStore, open_store
from transactive.store import _tables as t

SRC = sys.path[0]
SLOT = "2026-03-01T10:15:00Z"
LOAD_BUSES = list(load_feeder().load_buses)  # the IEEE European LV feeder's 55 load buses
T_ORDERS = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
T_CLEAR = datetime(2026, 3, 1, 10, 19, tzinfo=UTC)
T_SETTLE = datetime(2026, 3, 1, 10, 31, tzinfo=UTC)


def populate(store: SqlStore, op: Operator, community: str, n: int, seed: int, mechanism: str,  # noqa: PLR0917
             warm_keys: bool = True) -> list[str]:
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
    # custodial keys sealed at rest, as the service stores them (one transaction)
    store.put_chain_accounts([ChainAccount(m, Signer(k).address, k.hex(), False)
                              for m, k in zip(ids, keys, strict=True)])
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
    if warm_keys:
        an_earlier_slot(keys)
    return ids


def an_earlier_slot(keys: list[bytes]) -> None:
    """Set-up (not timed): what a validator holds after one earlier slot of these members -- each member's
    signature recovered once, so its public key is in the process's key cache
    (:mod:`transactive.crypto.verification`) and this slot's signatures are batch-verified (members trade every
    slot; a member's first slot pays one recovery). ``--first-sight`` skips it; the one-validator figures are
    printed both ways anyway. Nothing to do for a tree without the cache (a side-by-side baseline)."""
    if verify_signers is None:
        return
    digest = bytes(31) + b"\x01"
    signatures = sign_digests(keys, [digest] * len(keys))
    addresses = [bytes.fromhex(Signer(k).address[2:]) for k in keys]
    signers = verify_signers([(digest, s, a) for s, a in zip(signatures, addresses, strict=True)])
    assert signers == addresses


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


ONE_VALIDATOR = "one validator, 1 core: verify, recompute, root (not in total)"
VALIDATOR_MACHINE = "one validator's machine, 2 cores: the same (not in total)"
FIRST_SIGHT = "the same machine, keys not seen before (not in total)"
APART = (ONE_VALIDATOR, VALIDATOR_MACHINE, FIRST_SIGHT)  # measured on their own after the slot: not its stages
SETTLE_REST = "settlement: record read, statements, documents stored"
ROLES = {  # the machine that runs each stage (intake: the service taking and signing the members' orders)
    "intake": ("sign orders",),
    "auctioneer": ("clear + store result", "check buses in the Registry", "order root + store batch",
                   "open + commit order root", "submit result (k signatures)"),
    "one validator": (VALIDATOR_MACHINE,),
    "settlement": ("settlement:",),
}


def by_role(stages: dict[str, float]) -> dict[str, float]:
    """Seconds on each machine role's critical path (a stage counts for the role whose names start it)."""
    return {role: sum(v for k, v in stages.items() if k.startswith(names)) for role, names in ROLES.items()}


def peak_rss_mb(desk: LedgerDesk) -> tuple[float, float]:
    """Peak resident memory, MB: this process, and the largest of the desk's live worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = 0.0
    for name in ("pool", "parallel_validators"):
        executor = getattr(getattr(desk, name, None), "_executor", None)
        for pid in list(getattr(executor, "_processes", None) or {}):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    workers = max(workers, int(line.split()[1]) / 1024)
    return own, workers


def registry_buses(desk: LedgerDesk, store: SqlStore, community: str) -> None:
    """Set-up (not timed), as for ``dpda``'s enrolment: the large community's members are not put in the
    Registry one transaction each (hours at 100,000); the desk's bus cache -- what a running service holds
    after reading the Registry once -- is filled with their buses instead, so the slot's Registry check
    passes without 100,000 ``set_member`` transactions. The feeder community is fully enrolled on chain."""
    bus_of = {m.id: m.bus for m in store.list_members(community)}
    desk.ctx.bus_cache.update({a.address: str(bus_of[a.member]) for a in store.chain_accounts(community)})


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


def one_validator(desk: LedgerDesk, store: SqlStore, community: str, workers: int) -> tuple[float, float]:
    """Seconds and CPU seconds (this process + its workers) of one validator on its own machine: the anchored
    slot's stored batch recomputed from scratch (every signature verified, cleared, entries, result root), as
    :func:`~transactive.ledger.clearance.protocol.recompute` called directly (never the desk's shared
    recomputation of its in-process validators, ``ctx.shared``) with a pool of ``workers``: 1, everything in
    this process on one core; 2, the machine's two cores (the signatures recovered in a worker process while
    this process clears). The validator's pool is started and warmed up before (a validator keeps it, as the
    desk does); the root must be the endorsed one."""
    rec = store.get_ledger_slot(community, SLOT, "clearing")
    assert rec is not None
    doc = AnchorDocument.from_json(rec.document)
    assert doc.batch is not None
    batch = SlotBatch.from_json(doc.batch)
    rewards = slot_rewards(desk.ctx.chain, desk.ctx.slots, batch.slot)
    with WorkerPool(workers=workers, start_method="forkserver") as pool:
        if workers > 1:  # every worker imports the recovery code once (invalid signatures: None each)
            pool.map_chunks(recover_chunk, [(bytes(32), bytes(65))] * pool.parallel_threshold)
        t0, c0, w0 = time.perf_counter(), time.process_time(), pool.cpu_seconds()
        root = result_tree(batch.slot, recompute(batch, pool=pool, rewards=rewards)).root
        seconds, own, workers_cpu = time.perf_counter() - t0, time.process_time() - c0, pool.cpu_seconds() - w0
    assert "0x" + root.hex() == doc.result_root, (root.hex(), doc.result_root)
    if workers > 1:  # on a loaded machine the wall clock says little: what each core had to do
        print(f"one validator's machine, {workers} cores: {own:.2f} CPU s in the validator's process (its critical "
              f"path on an idle machine), {workers_cpu:.2f} CPU s in its worker; load average {os.getloadavg()[0]:.1f}")
    return seconds, own + workers_cpu


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
    stages[ONE_VALIDATOR], cpu[ONE_VALIDATOR] = one_validator(desk, store, community, 1)
    stages[VALIDATOR_MACHINE], cpu[VALIDATOR_MACHINE] = one_validator(desk, store, community, 2)
    if forget_public_keys is not None:  # the same machine seeing every member's key for the first time
        forget_public_keys()
        stages[FIRST_SIGHT], cpu[FIRST_SIGHT] = one_validator(desk, store, community, 2)
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
    t0, c0 = time.perf_counter(), cpu_now(desk)
    done = desk.settle(community, SLOT, T_SETTLE, claims_sample=claims)
    settle_s, settle_cpu = time.perf_counter() - t0, cpu_now(desk) - c0
    assert done.state in ("settled", "sampled"), done.state
    stages.update({k: v for k, v in desk.timings.items() if not k.startswith("settlement: input")})
    cpu.update({k: v for k, v in getattr(desk, "cpu_timings", {}).items() if not k.startswith("settlement: input")})
    # the rest of settle: the record read back, its statement lines, postings and multi-settlement document stored
    stages[SETTLE_REST] = settle_s - sum(desk.timings.values())
    cpu[SETTLE_REST] = settle_cpu - sum(getattr(desk, "cpu_timings", {}).values())
    return stages, cpu


def naive_per_order_s(desk: LedgerDesk, samples: int = 50) -> float:
    """Seconds per transaction when every order is its own transaction (one registry write each)."""
    t0 = time.perf_counter()
    for i in range(samples):
        desk.chain.transact(desk.registry, "set_member", Signer(random.Random(i).randbytes(32)).address, 1,
                            b"\x00" * 32)
    return (time.perf_counter() - t0) / samples


def report(title: str, n: int, stages: dict[str, float], cpu: dict[str, float]) -> float:
    """Print the stages; the total (one process) leaves out the separate one-validator measurement."""
    total = sum(v for k, v in stages.items() if k not in APART)
    print(f"\n{title}: {n:,} prosumers")
    print(f"  {'stage':<62} {'wall':>10} {'CPU':>10}")
    for name, seconds in stages.items():
        print(f"  {name:<62} {seconds:8.3f} s {cpu.get(name, 0.0):8.3f} s")
    print(f"  {'total (one process)':<62} {total:8.3f} s "
          f"{sum(v for k, v in cpu.items() if k not in APART):8.3f} s")
    return total


def single(args: argparse.Namespace) -> int:
    """One run of one tree at one size; the last line is the JSON summary :func:`side_by_side` reads."""
    n = args.n or (1_000 if args.quick else 10_000)
    # a throwaway key-encryption key for the temporary store's sealed custodial keys (none written to ~/.config)
    os.environ.setdefault("TRANSACTIVE_KEY_ENCRYPTION_KEY", os.urandom(32).hex())
    with tempfile.TemporaryDirectory(prefix="bench-slot-") as tmp:
        store = open_store(data_dir=tmp)
        op = Operator(store, ManualClock(T_ORDERS))
        t0 = time.perf_counter()
        config = LedgerConfig(chain_dir=Path(tmp) / "chain", parallel_validators=args.parallel_validators)
        desk = LedgerDesk(store, config)
        op.ledger = desk
        deploy_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        populate(store, op, "large", n, 1, args.mechanism, not args.first_sight)
        if args.mechanism.endswith("_matched"):  # the auctioneer checks every signed bus against the Registry
            registry_buses(desk, store, "large")
        feeder = populate(store, op, "feeder", 55, 2, args.mechanism)
        for m in feeder:
            member = store.get_member(m)
            assert member is not None
            desk.enrol(member)
        desk.warm_up()  # a long-running service starts its signing workers once
        setup_s = time.perf_counter() - t0
        print(f"src {SRC}\ndeploy {deploy_s:.2f} s; set-up (members, orders, 55 enrolments, the large community's "
              f"Registry buses) {setup_s:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(timings scale with it)")
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
        roles, roles_cpu = by_role(large), by_role(large_cpu)
        own_mb, worker_mb = peak_rss_mb(desk)
        print("critical path per machine role: " + ", ".join(f"{k} {v:.2f} s" for k, v in roles.items())
              + f"; peak RSS {own_mb:.0f} MB (this process), {worker_mb:.0f} MB (largest worker)")
        print(json.dumps({"n": n, "mechanism": args.mechanism, "src": SRC, "load_average": round(os.getloadavg()[0], 2),
                          "large_total_s": round(total_large, 3),
                          "large_cpu_s": round(sum(v for k, v in large_cpu.items() if k not in APART), 3),
                          "roles_s": {k: round(v, 3) for k, v in roles.items()},
                          "roles_cpu_s": {k: round(v, 3) for k, v in roles_cpu.items()},
                          "one_validator_1_core_s": [round(large[ONE_VALIDATOR], 3),
                                                     round(large_cpu[ONE_VALIDATOR], 3)],
                          "peak_rss_mb": round(own_mb), "worker_peak_rss_mb": round(worker_mb),
                          "feeder_total_s": round(sum(small.values()), 3)}))
        desk.close()
        store.close()
    return 0


def side_by_side(args: argparse.Namespace) -> int:
    """Each size run by the baseline tree and by this one, each in a fresh process; one table at the end."""
    trees = [("baseline", args.baseline_src), ("new", str(Path(__file__).resolve().parents[1] / "src"))]
    rows: list[tuple[str, int, dict[str, Any] | None]] = []
    for n in args.sizes:
        for label, src in trees:
            if src is None:
                continue
            # each tree runs its own copy of this benchmark (an older tree lacks the modules this one imports)
            own = Path(src).resolve().parent / "benchmarks" / Path(__file__).name
            script = str(own) if label == "baseline" and own.is_file() else __file__
            cmd = [sys.executable, script, "--n", str(n), "--mechanism", args.mechanism, "--claims", str(args.claims),
                   *(["--first-sight"] if args.first_sight and script == __file__ else []),
                   *(["--parallel-validators"] if args.parallel_validators else [])]
            env = {**os.environ, "TRANSACTIVE_BENCH_SRC": str(Path(src).resolve()),
                   "PYTHONPATH": str(Path(src).resolve())}
            print(f"--- {label}, {n:,} prosumers ({src})", flush=True)
            try:
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout, check=False)
            except subprocess.TimeoutExpired:
                print(f"    did not finish in {args.timeout:.0f} s")
                rows.append((label, n, None))
                continue
            print(out.stdout[-3000:], out.stderr[-2000:] if out.returncode else "", sep="", flush=True)
            last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
            rows.append((label, n, json.loads(last) if out.returncode == 0 and last.startswith("{") else None))
    print(f"\n{args.mechanism}: seconds on each machine role's critical path, wall / CPU (CPU: this process and the "
          "desk's workers; one validator: its machine of 2 cores, and alone on 1 core), the slot in one process, "
          "peak RSS of the largest process")
    names = ("intake", "auctioneer", "one validator", "settlement")
    print(f"{'tree':<9} {'prosumers':>9} " + " ".join(f"{k:>15}" for k in names)
          + f" {'validator 1 core':>16} {'one process':>15} {'RSS MB':>7}")
    for label, n, r in rows:
        if r is None:
            print(f"{label:<9} {n:>9,} {'did not finish':>40}")
            continue
        wall, cpu = r.get("roles_s", {}), r.get("roles_cpu_s", {})
        cells = [f"{wall.get(k, 0):6.2f} / {cpu.get(k, 0):6.2f}" for k in names]
        one_core = r.get("one_validator_1_core_s")
        if one_core is None:  # an older benchmark measured one validator on one core only
            one_core, cells[2] = [wall.get("one validator", 0), cpu.get("one validator", 0)], "not measured"
        cells.append(f"{one_core[0]:6.2f} / {one_core[1]:6.2f}")
        cells.append(f"{r['large_total_s']:6.2f} / {r['large_cpu_s']:6.2f}")
        print(f"{label:<9} {n:>9,} " + " ".join(f"{c:>15}" for c in cells[:4]) + f" {cells[4]:>16} {cells[5]:>15}"
              + f" {max(r.get('peak_rss_mb', 0), r.get('worker_peak_rss_mb', 0)):7.0f}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 prosumers instead of 10,000")
    parser.add_argument("--n", type=int, default=None, help="prosumers in the large community (one run)")
    parser.add_argument("--claims", type=int, default=10, help="sampled debit (and credit) claims")
    parser.add_argument("--mechanism", default="dpda", choices=["dpda", "mcafee", "dpda_matched", "mcafee_matched"],
                        help="the communities' mechanism (default dpda; dpda_matched: the service's default, with "
                        "signed grid attributes)")
    parser.add_argument("--first-sight", action="store_true",
                        help="no earlier slot: the validators meet every member's public key for the first time "
                        "(recovery instead of the batch check; default: keys known from one earlier slot)")
    parser.add_argument("--parallel-validators", action="store_true",
                        help="the validators other than the auctioneer recompute in worker processes at the same time")
    parser.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")], default=None,
                        help="side by side: comma-separated sizes, each in a fresh process (e.g. 1000,10000,100000)")
    parser.add_argument("--baseline-src", default=None,
                        help="side by side: the src/ folder of the tree to compare with (e.g. a checkout of main)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="side by side: seconds allowed per run")
    args = parser.parse_args()
    if args.sizes or args.baseline_src:
        args.sizes = args.sizes or [1_000, 10_000, 100_000]
        return side_by_side(args)
    return single(args)


if __name__ == "__main__":
    raise SystemExit(main())
