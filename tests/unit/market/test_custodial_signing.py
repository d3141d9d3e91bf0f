"""The desk's custodial signing of a slot's orders (``sign_rows``): the signatures are byte-identical to a
wallet's EIP-712 signature (eth-account over the message's typed data), on threads and on worker processes,
and a key that is not the row's trader is refused."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from transactive.crypto.eip712 import Domain
from transactive.crypto.encoding import ZERO32
from transactive.crypto.signing import SECP256K1_N, WorkerPool
from transactive.ledger.messages.orders import OrderError, OrderMessage, verify_orders
from transactive.market.ledger.batch import SignRow, sign_rows

CONTRACTS = ("0x5FbDB2315678afecb367f032d93F642f64180aa3", "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")


def _rows(n: int, keys: int, seed: int = 3) -> list[SignRow]:
    rng = random.Random(seed)
    secrets = [rng.randrange(1, SECP256K1_N).to_bytes(32, "big").hex() for _ in range(keys)]
    rows: list[SignRow] = []
    for i in range(n):
        key = secrets[i % keys]
        attributes = rng.randbytes(32) if i % 3 else ZERO32
        rows.append((key, Account.from_key(key).address, 77, i % 2, rng.randrange(10**6), rng.randrange(10**9),
                     i, 31337 if i % 5 else 1, CONTRACTS[i % 2], attributes))
    return rows


def _wallet_signature(row: SignRow) -> bytes:
    key, trader, slot, side, wh, micro, nonce, chain_id, contract, attributes = row
    message = OrderMessage(trader, slot, side, wh, micro, nonce, attributes)
    typed = message.typed_data(Domain(chain_id=chain_id, verifying_contract=contract))
    typed["message"]["attributesHash"] = attributes  # eth-account takes bytes32 as bytes
    return bytes(Account.sign_message(encode_typed_data(full_message=typed), key).signature)


def test_sign_rows_equals_the_wallet_signature_of_each_order() -> None:
    rows = _rows(40, 7)
    signed = sign_rows(rows)  # 40 < the threads' threshold: the calling thread
    assert [o.signature for o in signed] == [_wallet_signature(r) for r in rows]
    assert [o.message.nonce for o in signed] == list(range(40))
    for contract in CONTRACTS:
        for chain_id in (1, 31337):
            domain = Domain(chain_id=chain_id, verifying_contract=contract)
            mine = [o for o, r in zip(signed, rows, strict=True) if (r[7], r[8]) == (chain_id, contract)]
            assert verify_orders(mine, domain).rejected == []


def test_sign_rows_on_threads_and_processes_equal_one_thread() -> None:
    rows = _rows(600, 50, seed=4)
    with WorkerPool(workers=1) as one:
        serial = [o.signature for o in sign_rows(rows, pool=one)]
    assert [o.signature for o in sign_rows(rows)] == serial  # threads of this process
    with WorkerPool(workers=2, parallel_threshold=64) as processes:
        assert [o.signature for o in sign_rows(rows, pool=processes)] == serial
    assert serial[:5] == [_wallet_signature(r) for r in rows[:5]]


def test_a_key_that_is_not_the_trader_is_refused() -> None:
    rows = _rows(3, 3)
    key, _, *rest = rows[1]
    wrong: SignRow = (key, rows[2][1], *rest)  # type: ignore[assignment]
    with pytest.raises(OrderError) as info:
        sign_rows([rows[0], wrong, rows[2]])
    assert info.value.reason == "signer"
