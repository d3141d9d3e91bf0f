"""One signature per trader per slot (issue 13): the version-2 ``Order`` carries ``attributesHash``, so the
trader's one signature covers its order and its attributes. Checked here: the digest against eth-account's
independent EIP-712 encoding, a tampered attribute failing, batch verification across worker processes
equal to one-by-one verification with bad signatures at random positions, and an archived version-1 batch
(two signatures per trader) still verifying."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import SECP256K1_N, Signer, WorkerPool, recover_address_bytes
from transactive.ledger.audit.proofs import ProofError, SlotBatch, audit_batch, load_batch, save_batch
from transactive.ledger.clearance.protocol import ClearanceError, recompute
from transactive.ledger.messages.attributes import (
    ParticipantAttributes,
    SignedAttributes,
    verify_batch,
)
from transactive.ledger.messages.orders import OrderMessage, SignedOrder, sign_order, verify_order

FIXTURE = Path(__file__).parents[2] / "fixtures" / "archives" / "ledger_batch_v1_dpda_matched.json"
DOMAIN = Domain(chain_id=1337, verifying_contract="0x" + "42" * 20)
SIGNERS = [Signer(bytes(31) + bytes([k + 1])) for k in range(6)]
SLOT = 9


def _record(signer: Signer, bus: str = "34") -> ParticipantAttributes:
    return ParticipantAttributes.from_values(signer.address, slot=SLOT, bus=bus, distance_pref_m=120.5,
                                             a=0.01, b=1.0, c=0.5, omega=0.0, alpha=0.0)


def _grid_batch() -> SlotBatch:
    """Each trader: one order whose attributesHash is its record's struct hash, signed once."""
    records = [_record(s, bus=str(30 + k)) for k, s in enumerate(SIGNERS)]
    orders = tuple(
        sign_order(s, OrderMessage(s.address, SLOT, k % 2, 1000 + k, 150_000, 0, r.struct_hash()), DOMAIN)
        for k, (s, r) in enumerate(zip(SIGNERS, records, strict=True))
    )
    return SlotBatch(DOMAIN, SLOT, orders, attributes=tuple(SignedAttributes(r) for r in records))


def test_digest_equals_eth_account_and_a_wallet_signature_verifies() -> None:
    signer = SIGNERS[0]
    record = _record(signer)
    # the attributes' hashStruct, and the order's digest, by eth-account's own EIP-712 implementation
    assert bytes(encode_typed_data(full_message=record.typed_data(DOMAIN)).body) == record.struct_hash()
    message = OrderMessage(signer.address, SLOT, 1, 2500, 180_000, 7, record.struct_hash())
    document = message.typed_data(DOMAIN)
    assert [f["name"] for f in document["types"]["Order"]][-1] == "attributesHash"
    signable = encode_typed_data(full_message=document)
    assert bytes(_hash_eip191_message(signable)) == message.digest(DOMAIN)
    wallet = Account.sign_message(signable, private_key=bytes(31) + b"\x01")
    order = SignedOrder(message, bytes(wallet.signature))
    assert order == sign_order(signer, message, DOMAIN)  # deterministic nonce: the same 65 bytes
    batch = SlotBatch(DOMAIN, SLOT, (order,), attributes=(SignedAttributes(record),))
    assert audit_batch(batch) == []
    # version 1 (older archives): the same fields without attributesHash hash differently
    assert replace(message, attributes_hash=None).digest(DOMAIN) != message.digest(DOMAIN)


@pytest.mark.parametrize("change", [{"bus": "35"}, {"distance_pref_mm": 120_501}, {"cost_a_nano": 1},
                                    {"omega_nano": 5}])
def test_a_tampered_attribute_fails(change: dict[str, object]) -> None:
    batch = _grid_batch()
    assert audit_batch(batch) == []
    j = 3
    tampered = replace(batch.attributes[j], message=replace(batch.attributes[j].message, **change))
    bad = replace(batch, attributes=(*batch.attributes[:j], tampered, *batch.attributes[j + 1:]))
    check = verify_batch(bad.orders, bad.attributes, DOMAIN, slot=SLOT)
    assert [(k, e.reason) for k, e in check.attributes] == [(j, "signature")]
    assert check.orders.rejected == []  # the order is the trader's: the altered record is what is reported
    assert bad.order_root != batch.order_root
    doc = batch.to_json()
    doc["attributes"][j]["bus"] = "99"
    del doc["orderRoot"]
    assert audit_batch(SlotBatch.from_json(doc)) == [
        f"attributes {j}: signature: attributes {j} of {SIGNERS[j].address}: its struct hash is no attributesHash "
        "of the trader's signed orders (changed after signing)",
    ]
    # a record dropped from the batch: the order names attributes the batch does not hold
    dropped = verify_batch(batch.orders, batch.attributes[:j] + batch.attributes[j + 1:], DOMAIN, slot=SLOT)
    assert [(k, e.reason) for k, e in dropped.orders.rejected] == [(j, "attributes")]
    assert dropped.attributes == []


def test_an_unsigned_record_next_to_version_1_orders_is_refused() -> None:
    batch = _grid_batch()
    v1_orders = tuple(sign_order(s, replace(o.message, attributes_hash=None), DOMAIN)
                      for s, o in zip(SIGNERS, batch.orders, strict=True))
    with pytest.raises(ProofError, match="version-1 and version-2"):
        SlotBatch(DOMAIN, SLOT, v1_orders, attributes=batch.attributes)
    doc = batch.to_json()
    doc["format"] = "transactive.ledger-batch/1"
    with pytest.raises(ProofError, match="needs version-1 messages"):
        SlotBatch.from_json(doc)


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(workers=2, parallel_threshold=4, start_method="forkserver") as workers:
        workers.chunks_per_worker = 3
        yield workers


def _spoil(signature: bytes, how: int, digest: bytes) -> bytes:
    """A bad signature: another key's over the same digest, r = 0, a high s, v = 29, or a flipped bit."""
    if how == 0:
        return SIGNERS[-1].sign_digest(digest)
    if how == 1:
        return bytes(32) + signature[32:]
    if how == 2:  # the malleable twin (n - s, other v): valid ECDSA, refused as high-s
        s = SECP256K1_N - int.from_bytes(signature[32:64], "big")
        return signature[:32] + s.to_bytes(32, "big") + bytes((55 - signature[64],))
    if how == 3:
        return signature[:64] + b"\x1d"
    return signature[:10] + bytes((signature[10] ^ 1,)) + signature[11:]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking through a process pool is slow
@given(data=st.data(), n=st.integers(1, 60))
def test_batch_verification_equals_one_by_one(pool: WorkerPool, data: st.DataObject, n: int) -> None:
    orders = []
    for k in range(n):
        signer = SIGNERS[data.draw(st.integers(0, len(SIGNERS) - 2))]
        message = OrderMessage(signer.address, SLOT, data.draw(st.integers(0, 1)), data.draw(st.integers(0, 10**6)),
                               data.draw(st.integers(0, 10**6)), k)
        orders.append(sign_order(signer, message, DOMAIN))
    bad = data.draw(st.sets(st.integers(0, n - 1), max_size=n))
    for k in bad:
        how = data.draw(st.integers(0, 4))
        orders[k] = replace(orders[k], signature=_spoil(orders[k].signature, how, orders[k].message.digest(DOMAIN)))
    check = verify_batch(orders, (), DOMAIN, slot=SLOT, pool=pool)  # chunks in the two worker processes
    one_by_one = []
    for k, order in enumerate(orders):
        try:
            verify_order(order, DOMAIN, slot=SLOT)
        except ValueError as exc:  # "<reason>: order 0 of <trader>: <why>" (index 0 of a batch of one)
            one_by_one.append((k, str(exc).split(" of ", 1)[1]))
    assert [(k, str(e).split(" of ", 1)[1]) for k, e in check.orders.rejected] == one_by_one
    assert [k for k, _ in one_by_one] == sorted(bad)  # every spoiled signature, by its index, and no other
    assert check.orders.accepted == [o for k, o in enumerate(orders) if k not in bad]
    assert all(recover_address_bytes(o.message.digest(DOMAIN), o.signature) == o.message.trader_bytes
               for o in check.orders.accepted)


def test_an_archived_version_1_batch_still_verifies(tmp_path: Path) -> None:
    """The fixture was written by the code before issue 13: orders and attributes signed separately."""
    stored = json.loads(FIXTURE.read_text())
    assert stored["format"] == "transactive.ledger-batch/1" and all("signature" in a for a in stored["attributes"])
    batch = load_batch(FIXTURE)  # its stated orderRoot and resultRoot are checked on load
    assert batch.versions() == {1}
    assert audit_batch(batch) == []
    assert tuple(recompute(batch, rewards=None)) == batch.results
    save_batch(batch, tmp_path / "again.json")  # written back in the format it was read in
    assert json.loads((tmp_path / "again.json").read_text()) == stored
    stored["attributes"][2]["bus"] = stored["attributes"][3]["bus"] + "x"
    del stored["orderRoot"]
    tampered = SlotBatch.from_json(stored)
    assert [p.split(":")[0] for p in audit_batch(tampered)] == ["attributes 2"]
    with pytest.raises(ClearanceError, match="attributes 2"):
        recompute(tampered)
