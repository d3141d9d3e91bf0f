"""RevmChain against the py-evm engine as the oracle: the same transactions give the same contracts, blocks,
events, views and (for a first transaction) gas and fee; the EIP-1559 base fee rule is py-evm's; views as of an
earlier block; the journal's file, read-only opening and rejection of foreign files."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from transactive.ledger.chain.base import ChainRevert, decode_events
from transactive.ledger.chain.compiler import Artifact, load_artifact
from transactive.ledger.chain.embedded import EmbeddedChain
from transactive.ledger.chain.revm import JOURNAL_FILE, RevmChain, next_base_fee
from transactive.ledger.testing import ROLE_PROSUMER, ROLE_VALIDATOR, bus, deploy_suite


def _scenario(chain: EmbeddedChain | RevmChain) -> list[object]:
    """The contract suite, a transfer and a rejected one; everything a caller can observe of it."""
    dep = deploy_suite(chain)
    a, b = dep.prosumers[0], dep.prosumers[1]
    sent = chain.transact(dep.token, "transfer", b, 250, sender=a)
    with pytest.raises(ChainRevert) as rejected:
        chain.transact(dep.token, "transfer", b, 10**15, sender=a)
    return [dep.registry.address, dep.token.address, dep.slots.address, dep.auction.address,
            chain.block_number(), sent.block_number, decode_events(dep.token, sent), rejected.value.reason,
            [chain.call(dep.token, "balanceOf", x) for x in chain.accounts],
            chain.logs(dep.token, "Transfer", from_block=3), chain.logs(dep.registry, "MemberSet"),
            chain.call(dep.registry, "validator_list")]


def test_the_same_transactions_are_observed_alike_on_both_engines() -> None:
    assert _scenario(RevmChain()) == _scenario(EmbeddedChain())


def test_a_first_transaction_costs_the_same_gas_and_fee_on_both_engines() -> None:
    """Nothing is warm yet: the deployment lands at the same address and costs its sender the same fee (gas x the
    block's base fee); a later transaction may find slots warm on revm (module docstring): never dearer."""
    chains = (EmbeddedChain(), RevmChain())
    registries = [c.deploy(load_artifact("Registry")) for c in chains]
    assert registries[0].address == registries[1].address
    paid = [10**27 - c.balance(c.accounts[0]) for c in chains]
    assert paid[0] == paid[1] > 0
    receipts = [c.transact(r, "set_member", c.accounts[3], ROLE_VALIDATOR, bus("v"))
                for c, r in zip(chains, registries, strict=True)]
    assert 21_000 < receipts[1].gas_used <= receipts[0].gas_used


def test_base_fee_rule_is_py_evms() -> None:
    """next_base_fee reproduces the base fee of every block py-evm mined (full and empty-ish blocks)."""
    chain = EmbeddedChain()
    deploy_suite(chain)
    headers = [chain._chain.get_canonical_block_header_by_number(n) for n in range(chain.block_number() + 1)]
    assert headers[0].base_fee_per_gas == 10**9
    for parent, child in itertools.pairwise(headers):
        assert child.base_fee_per_gas == next_base_fee(parent.base_fee_per_gas, parent.gas_used)
    assert next_base_fee(1_000, 30_000_000) == 1_000  # at the target: unchanged
    assert next_base_fee(1_000, 60_000_000) == 1_125  # a full block: +12.5 %
    assert next_base_fee(7, 0) == 7  # too small to fall further (integer division)


def test_views_as_of_an_earlier_block_in_any_order() -> None:
    chain = RevmChain()
    dep = deploy_suite(chain)
    member = chain.accounts[2]
    seen = {}
    for role in (ROLE_PROSUMER, ROLE_VALIDATOR, 0, ROLE_PROSUMER | ROLE_VALIDATOR):
        chain.transact(dep.registry, "set_member", member, role, bus("x"))
        seen[chain.block_number()] = role
    blocks = sorted(seen)
    for order in (blocks, blocks[::-1], blocks):  # the forward cursor, then rebuilt, then forward again
        assert [chain.call(dep.registry, "roles", member, block=n) for n in order] == [seen[n] for n in order]
    assert chain.call(dep.registry, "roles", member, block=blocks[0] - 1) == ROLE_VALIDATOR | ROLE_PROSUMER
    with pytest.raises(ValueError, match="block"):
        chain.call(dep.registry, "roles", member, block=chain.block_number() + 1)
    # a revert below the cursor: the cursor follows the canonical chain
    chain.revert(blocks[1])
    chain.transact(dep.registry, "set_member", member, ROLE_PROSUMER, bus("y"))
    assert chain.call(dep.registry, "roles", member, block=blocks[1]) == seen[blocks[1]]
    assert chain.call(dep.registry, "bus", member, block=blocks[1] + 1) == bus("y")


def test_journal_is_private_and_opens_read_only_without_writing(tmp_path: Path) -> None:
    chain = RevmChain(tmp_path)
    dep = deploy_suite(chain)
    head, root = chain.block_number(), chain.state_root()
    chain.close()
    journal = tmp_path / JOURNAL_FILE
    assert journal.stat().st_mode & 0o777 == 0o600
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    reader = RevmChain(tmp_path, read_only=True)
    assert (reader.block_number(), reader.state_root()) == (head, root)
    assert reader.call(dep.registry, "threshold") == 3
    with pytest.raises(sqlite3.OperationalError, match="read"):
        reader.transact(dep.registry, "set_threshold", 2)
    assert reader.block_number() == head
    reader.close()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_read_only_refuses_what_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        RevmChain(tmp_path, read_only=True)
    (tmp_path / JOURNAL_FILE).write_bytes(b"not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        RevmChain(tmp_path, read_only=True)


_BALANCE_PROBE = """
# pragma version ~=0.4.3
@external
def balance_of(a: address) -> uint256:
    return a.balance
"""


def _probe() -> Artifact:
    """A contract whose transaction reads an account's balance (BALANCE: 2,600 gas cold, 100 warm)."""
    from vyper import compile_code
    from vyper.compiler.settings import Settings

    out = compile_code(_BALANCE_PROBE, output_formats=["abi", "bytecode"], settings=Settings(evm_version="cancun"))
    return Artifact("Probe", tuple(out["abi"]), bytes.fromhex(str(out["bytecode"]).removeprefix("0x")))


def test_reads_and_rejected_transactions_leave_no_account_warm() -> None:
    """The gas of a transaction that touches an account first is py-evm's (cold), also after the account's
    balance was read, a view touched it, or a transaction it sent was rejected on the revm chain."""
    probe = _probe()
    reference = EmbeddedChain()
    target = reference.accounts[7]
    cold = reference.transact(reference.deploy(probe), "balance_of", target).gas_used
    plain, touched = RevmChain(), RevmChain()
    assert plain.transact(plain.deploy(probe), "balance_of", target).gas_used == cold
    contract = touched.deploy(probe)
    assert touched.balance(target) == 10**27
    assert touched.call(contract, "balance_of", target) == 10**27
    with pytest.raises(ChainRevert):  # no default function: a plain transfer to it reverts
        touched.send_value(contract.address, 1, sender=target)
    assert touched.transact(contract, "balance_of", target).gas_used == cold


_STORAGE_PROBE = """
# pragma version ~=0.4.3
m: HashMap[uint256, uint256]

@external
def write(k: uint256, v: uint256):
    self.m[k] = v

@external
def read(k: uint256) -> uint256:
    return self.m[k]

@external
def balance_of(a: address) -> uint256:
    return a.balance
"""
# the Cancun gas schedule (EIP-2929 access costs, EIP-2200/3529 SSTORE costs and refunds)
COLD_SLOAD, WARM_READ, COLD_ACCOUNT, SSTORE_RESET, SSTORE_SET, CLEAR_REFUND = 2_100, 100, 2_600, 2_900, 20_000, 4_800
MAX_REFUND_QUOTIENT = 5


def _storage_probe() -> Artifact:
    from vyper import compile_code
    from vyper.compiler.settings import Settings

    out = compile_code(_STORAGE_PROBE, output_formats=["abi", "bytecode"], settings=Settings(evm_version="cancun"))
    return Artifact("StorageProbe", tuple(out["abi"]), bytes.fromhex(str(out["bytecode"]).removeprefix("0x")))


def test_revm_gas_is_py_evms_less_what_earlier_transactions_left_warm() -> None:
    """The same transactions on both engines: revm's gas is py-evm's minus, exactly, the EIP-2929/2200 terms of the
    accounts and slots an EARLIER transaction of the same EVM touched (pyrevm never finalises its journal between
    transactions): a slot read again costs WARM_READ instead of COLD_SLOAD; a slot written again is a "dirty" write
    (its original value is the one first loaded, in the earlier transaction): WARM_READ instead of COLD_SLOAD +
    SSTORE_RESET, and writing back that original value refunds SSTORE_SET - WARM_READ (capped at a fifth of the gas
    used) instead of the CLEAR_REFUND py-evm gives; an account read again costs WARM_READ instead of COLD_ACCOUNT.
    Intrinsic gas, opcode costs and the refund rule are the same: a transaction touching nothing touched before
    costs the same on both."""
    probe = _storage_probe()
    reference, fast = EmbeddedChain(), RevmChain()
    other = reference.accounts[7]
    steps: list[tuple[str, tuple[Any, ...]]] = [
        ("write", (1, 5)), ("write", (1, 7)), ("read", (1,)), ("write", (1, 0)), ("write", (2, 3)), ("write", (2, 3)),
        ("balance_of", (other,)), ("balance_of", (other,))]
    gas = []
    for chain in (reference, fast):
        contract = chain.deploy(probe)
        gas.append([chain.transact(contract, fn, *args).gas_used for fn, args in steps])
    py, rv = gas

    def refunded_write_back(py_gas: int) -> int:  # step 4: 7 -> 0, the value slot 1 held before step 1
        before_refund = py_gas + CLEAR_REFUND - (COLD_SLOAD + SSTORE_RESET - WARM_READ)
        return before_refund - min(SSTORE_SET - WARM_READ, before_refund // MAX_REFUND_QUOTIENT)

    assert rv == [py[0],  # slot 1 first written: cold on both
                  py[1] - (COLD_SLOAD + SSTORE_RESET - WARM_READ),  # 5 -> 7: a dirty write on revm
                  py[2] - (COLD_SLOAD - WARM_READ),  # read again: warm
                  refunded_write_back(py[3]),
                  py[4],  # slot 2: first touch
                  py[5] - COLD_SLOAD,  # 3 -> 3: a no-op write, warm on revm (WARM_READ on both)
                  py[6],  # the other account: first touch
                  py[7] - (COLD_ACCOUNT - WARM_READ)]  # read again: warm


def test_revm_gas_never_exceeds_py_evms_over_the_contract_suite() -> None:
    """Over the deployment and registration of the contract suite and token transfers: every transaction's gas on
    revm is at most py-evm's and differs by the warm-access terms only (whole hundreds of gas: each term above is
    a multiple of 100 unless a refund hits its cap, which none of these transactions does)."""
    gas = []
    for chain in (EmbeddedChain(), RevmChain()):
        receipts: list[int] = []
        transact = chain.transact

        def recording(*args: Any, _t: Any = transact, _r: list[int] = receipts, **kwargs: Any) -> Any:
            receipt = _t(*args, **kwargs)
            _r.append(receipt.gas_used)
            return receipt

        chain.transact = recording  # type: ignore[method-assign]
        dep = deploy_suite(chain)
        a, b = dep.prosumers[0], dep.prosumers[1]
        for sender, to in ((a, b), (a, b), (b, a)):
            chain.transact(dep.token, "transfer", to, 250, sender=sender)
        gas.append(receipts)
    py, rv = gas
    assert len(py) == len(rv) > 40
    assert all(r <= p and (p - r) % 100 == 0 for p, r in zip(py, rv, strict=True)), list(zip(py, rv, strict=True))
    assert sum(py) > sum(rv)
