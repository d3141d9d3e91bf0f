"""The orders' verification gives the same verdicts with the batch check (keys known from an earlier slot)
as with recovery alone (issue 13): accepted orders, rejected ones with their reasons and messages, the
attributes records' problems -- on batches mixing valid orders with every kind of bad one."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from transactive.crypto import verification
from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import SECP256K1_N, Signer, WorkerPool
from transactive.ledger.messages.attributes import (
    BatchCheck,
    ParticipantAttributes,
    SignedAttributes,
    sign_attributes,
    verify_batch,
)
from transactive.ledger.messages.orders import OrderMessage, SignedOrder, sign_order, verify_orders

SLOT = 6


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    verification.forget_public_keys()
    yield
    verification.forget_public_keys()


def _high_s_twin(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((signature[64] ^ (27 ^ 28),))


def _batch(signers: list[Signer], domain: Domain, seed: int) -> tuple[list[SignedOrder], list[SignedAttributes]]:
    """Orders of the 8 signers (version 2, attributes covered) plus version-1 records, then bad ones at
    random positions: a field changed after signing, another trader's signature, a high-s twin, a flipped v,
    a replayed nonce, another slot, a version-1 record changed after signing."""
    rng = random.Random(seed)
    records = [ParticipantAttributes.from_values(s.address, slot=SLOT, bus=str(20 + k), distance_pref_m=50.0 + k,
                                                 a=0.01, b=1.0, c=0.5) for k, s in enumerate(signers)]
    orders = [sign_order(s, OrderMessage(s.address, SLOT, k % 2, 1000 + 7 * j + k, 150_000 + j, j,
                                         records[k].struct_hash() if k < 5 else None), domain)
              for j in range(6) for k, s in enumerate(signers)]
    attributes = [SignedAttributes(r) for r in records[:5]] + [sign_attributes(s, r, domain)
                                                                for s, r in zip(signers[5:], records[5:], strict=True)]
    for kind in rng.sample(range(6), 6):
        k = rng.randrange(len(orders))
        o = orders[k]
        if kind == 0:
            orders[k] = SignedOrder(replace(o.message, energy_wh=o.message.energy_wh + 1), o.signature)
        elif kind == 1:
            other = signers[(signers.index(next(s for s in signers if s.address == o.message.trader)) + 1) % 8]
            orders[k] = SignedOrder(o.message, other.sign_digest(o.message.digest(domain)))
        elif kind == 2:
            orders[k] = SignedOrder(o.message, _high_s_twin(o.signature))
        elif kind == 3:
            orders[k] = SignedOrder(o.message, o.signature[:64] + bytes((o.signature[64] ^ (27 ^ 28),)))
        elif kind == 4:
            orders.insert(rng.randrange(len(orders) + 1), o)  # the same (trader, nonce) twice: a replay
        else:
            orders[k] = sign_order(signers[k % 8], replace(o.message, slot=SLOT + 1), domain)
    attributes[7] = SignedAttributes(replace(attributes[7].message, bus="99"), attributes[7].signature)
    return orders, attributes


def _summary(check: BatchCheck) -> tuple[Any, ...]:
    return (check.orders.accepted, [(k, e.reason, str(e)) for k, e in check.orders.rejected],
            [(k, e.reason, str(e)) for k, e in check.attributes])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_verify_batch_is_the_same_with_and_without_the_fast_path(
    signers: list[Signer], domain: Domain, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders, attributes = _batch(signers, domain, seed)
    with monkeypatch.context() as recovery_only:
        recovery_only.setattr(verification, "_native", None)
        reference = _summary(verify_batch(orders, attributes, domain, slot=SLOT))
        assert verification.known_public_key(signers[0].address_bytes) is not None  # learnt by recovery
    assert reference[1] and reference[2]  # the bad ones are there
    native = verification._native
    if native is None:
        assert not os.environ.get("CI"), "the C batch verifier is not built"
        pytest.skip("the C batch verifier is not built (make builds it; CI fails without it)")
    checked = []

    def counting(*args: bytes) -> bytes:
        checked.append(len(args[0]) // 65)
        return native.verify(*args)

    monkeypatch.setattr(verification, "_native", type("Counting", (), {"verify": staticmethod(counting)}))
    assert _summary(verify_batch(orders, attributes, domain, slot=SLOT)) == reference  # keys known: batch check
    assert sum(checked) == len(orders) + 3  # every order and version-1 record went through the C check
    with WorkerPool(workers=2, parallel_threshold=8, threads=True) as pool:
        assert _summary(verify_batch(orders, attributes, domain, slot=SLOT, pool=pool)) == reference
    fast = verify_orders(orders, domain, slot=SLOT, workers=1)
    monkeypatch.setattr(verification, "_native", None)
    slow = verify_orders(orders, domain, slot=SLOT, workers=1)
    assert fast.accepted == slow.accepted
    assert [(k, e.reason, str(e)) for k, e in fast.rejected] == [(k, e.reason, str(e)) for k, e in slow.rejected]
