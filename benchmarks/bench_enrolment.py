"""Benchmark enrolment of custodial members on the embedded py-evm chain and the Registry bus read after a
restart: today's path (one transaction per step per member) and the batch path side by side.

Rows per size N (members):
- enrol, old: per member ``Registry.set_member``, ``EnergyToken.mint``, a gas transfer and the member's own
  ``approve`` of MarketSlots (4 transactions per member), what ``LedgerAccounts.enrol`` sent before batch
  enrolment; timed on ``--sample`` members and extrapolated linearly to N (marked ``~``) when N is larger.
- enrol, new: ``LedgerDesk.enrol_many`` (``set_members``, ``mint_batch``, ``permit_batch``: 3 transactions per
  200 members), all N members for real.
- bus read after a restart, old: one ``eth_call`` of ``Registry.bus`` per member (sampled and extrapolated the
  same way); new: ``LedgerDesk.read_registry_buses`` (one ``buses_of`` call per 200 members), all N.

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_enrolment.py [--sizes 1000 10000 100000] [--sample 500]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from transactive.market import ManualClock, Operator
from transactive.market.ledger.accounts import _bus32
from transactive.market.ledger.config import MAX_UINT
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.store import Member, open_store
from transactive.store import _tables as t

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _members(store: object, n: int, seed: int) -> list[Member]:
    """N prosumers of community ``c`` on 55 buses (bulk insert; their accounts are created by the enrolment)."""
    rng = random.Random(seed)
    members = [Member(f"m{seed}-{i}", "c", "prosumer", uuid.UUID(int=rng.getrandbits(128)).hex * 2, f"bus-{i % 55}")
               for i in range(n)]
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(t.members.insert(), [{"id": m.id, "community": m.community, "role": m.role,
                                           "api_key_hash": m.api_key_hash, "bus": m.bus} for m in members])
    return members


def old_enrol(desk: LedgerDesk, n: int, seed: int) -> float:
    """Seconds for the pre-batch enrolment of ``n`` fresh accounts: 4 transactions each."""
    rng = random.Random(seed)
    keys = [rng.randbytes(32) for _ in range(n)]
    chain, ctx = desk.chain, desk.ctx
    amount = ctx.config.start_tokens * 10**6
    t0 = time.perf_counter()
    for i, key in enumerate(keys):
        address = ctx.keyed.add_key(key)
        chain.transact(desk.registry, "set_member", address, 1, _bus32(f"bus-{i % 55}"))
        chain.transact(desk.token, "mint", address, amount)
        ctx.keyed.send_value(address, ctx.config.gas_wei)
        chain.transact(desk.token, "approve", desk.slots.address, MAX_UINT, sender=address)
    return time.perf_counter() - t0


def one_size(n: int, sample: int, tmp: Path) -> dict[str, tuple[float, bool]]:
    store = open_store(data_dir=tmp)
    Operator(store, ManualClock(T0)).create_community("c", "dpda", {}, 15)
    config = LedgerConfig(chain_dir=tmp / "chain", archive_dir=tmp / "archive")
    desk = LedgerDesk(store, config, started=T0)
    members = _members(store, n, 1)
    out: dict[str, tuple[float, bool]] = {}
    t0 = time.perf_counter()
    accounts = desk.enrol_many(members)
    out["enrol, new"] = (time.perf_counter() - t0, False)
    k = min(n, sample)
    out["enrol, old"] = (old_enrol(desk, k, 2) * n / k, k < n)
    addresses = [accounts[m.id].address for m in members]
    desk.close()
    desk = LedgerDesk(store, config, started=T0)  # a restart: the bus cache is empty
    t0 = time.perf_counter()
    for a in addresses[:k]:
        bytes(desk.chain.call(desk.registry, "bus", a))
    out["bus read after restart, old"] = ((time.perf_counter() - t0) * n / k, k < n)
    t0 = time.perf_counter()
    desk.read_registry_buses(addresses)
    out["bus read after restart, new"] = (time.perf_counter() - t0, False)
    assert len(desk.ctx.bus_cache) >= n and desk.ctx.bus_cache[addresses[-1]] == members[-1].bus
    desk.close()
    store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--sample", type=int, default=500, help="members timed on the old paths (extrapolated)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start (timings scale with it)")
    rows: dict[int, dict[str, tuple[float, bool]]] = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-enrol-") as tmp:
            rows[n] = one_size(n, args.sample, Path(tmp))
        print(f"  N={n:,} done; load average {os.getloadavg()[0]:.1f}", flush=True)
    names = ["enrol, old", "enrol, new", "bus read after restart, old", "bus read after restart, new"]
    print(f"{'members':>10} " + " ".join(f"{name:>30}" for name in names) + "   (s; ~ = extrapolated from the sample)")
    for n, row in rows.items():
        cells = [f"{'~' if row[name][1] else ''}{row[name][0]:.2f}" for name in names]
        print(f"{n:>10,} " + " ".join(f"{c:>30}" for c in cells))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
