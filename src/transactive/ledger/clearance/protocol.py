"""Proof of Clearance (seed 001, Fig. 4): validators recompute a committed slot and endorse its result root.

Protocol for one slot ``s`` with validators ``v_0 .. v_{n-1}`` (the Registry's validator list order) and
threshold ``k``:

1. The **auctioneer** ``v_{s mod n}`` opens the slot and commits the order root of the batch it collected
   (a :class:`~transactive.ledger.audit.proofs.SlotBatch` with ``mechanism`` and ``params``; no results yet).
2. Every validator **recomputes** the clearing from the batch alone (:func:`recompute`): it re-verifies
   every order signature and slot, converts the orders with
   :func:`~transactive.ledger.messages.orders.messages_to_orders`, builds the params with the market-file
   parser (:func:`transactive.marketfile.parse_params`), clears with the mechanism of
   :func:`transactive.registry.full_registry`, turns the result into one integer entry per account
   (:func:`~transactive.ledger.messages.commitments.result_entries`) and builds the result root. Everything is a
   pure function of the batch, so honest validators obtain byte-identical roots.
3. Each validator signs ``Endorsement(slot, orderRoot, resultRoot)`` for the root **it** computed.
4. Roots are compared (:func:`collect`): the root with at least ``k`` distinct valid endorsements is the
   slot's result; a validator whose signed root differs is reported as a *dissenter* (it signed a wrong
   root, or a wrong order root). With fewer than ``k`` agreeing signatures there is no result.
5. The **miner** is the first validator whose ``submit_result`` with the ``k`` signatures is accepted on
   chain (:func:`submit`): later submissions revert because the slot is already CLEARED, so the chain
   itself decides who wins the miner reward. Only validators that endorsed the accepted root submit, in
   list order starting after the auctioneer (:func:`miner_order`): a dissenter's own solution was not
   the valid one, so it never submits and never earns the miner reward (seed 001, Fig. 4: "the first valid
   solution" wins; SEED-NOTES §7), nor does a validator that did not answer.

Steps 1-5 are one resumable round (:func:`open_and_commit`, then :func:`endorse_and_submit`), each step
taken only if the on-chain slot state says it is still missing. The simulated day and the tests run it
through :func:`run_slot`, the networked validators through
:func:`transactive.ledger.clearance.validator_service.remote_round`, the service's desk (clearing anchors and
settlement slots) through :mod:`transactive.market.ledger.anchoring`: the same functions.
6. A batch-mode slot is then **settled** (:func:`settle`) with every entry in one ``settle_batch``.

Rewards (seed 001 eq. 2-4): ``MarketSlots.settle_batch`` pays ``floor(ME x_A)`` to the auctioneer and
``floor(ME x_M)`` to the miner, ME the market exchange committed as the ``ME_LEAF`` row, and requires
``credits + rewards == debits`` with the community fund's row among them. For a batch-mode slot the committed
entries therefore already include the rewards: :func:`recompute` with the slot's
:class:`~transactive.ledger.messages.commitments.RewardShares` takes them from the fund's row
(:func:`~transactive.ledger.messages.commitments.settle_entries`, ``docs/settlement.md``), deterministically,
so every validator obtains the same root and the settlement balances to the micro-token.

The contract accepts any ``k`` valid validator signatures for a root; a root endorsed by fewer than ``k``
validators cannot be submitted. An honest majority of ``k`` is therefore what makes a result final; the
audit (:mod:`transactive.ledger.audit.audit`) recomputes every archived slot afterwards.

Choice (the seeds are silent): the batch must carry the mechanism name and its JSON params (the ``market`` member of
the batch file, committed by the order root as its last leaf in batch format 3:
:func:`~transactive.ledger.messages.commitments.market_struct_hash`). Grid-aware mechanisms (``dpda_matched``,
``mcafee_matched``) are recomputed from the batch too: each trader signs one ``Attributes`` record per slot (feeder
bus, distance preference, welfare parameters; :mod:`transactive.ledger.messages.attributes`), committed as leaves of
the order tree, decoded into the mechanism's participant columns (:func:`clear_batch`); the bus must be the trader's
Registry bus (:func:`check_members`, in :func:`preflight`). The batch names the DSO account (``dso``), whose entry
carries the grid charges; the sellers' credits are rebalanced around it so every slot still balances to the
micro-token.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, WorkerPool
from transactive.ledger.audit.proofs import SlotBatch, audit_batch
from transactive.ledger.chain.base import Chain, ChainRevert, Contract, contract_at, decode_events
from transactive.ledger.chain.constants import (
    CLOSE,
    FOR_SALE,
    MODE_BATCH,
    MODE_CLAIMS,
    RESERVE_NOT_MET,
    ROLE_DSO,
)
from transactive.ledger.clearance.endorsement import endorse, valid_endorsements
from transactive.ledger.clearance.overlap import Beside
from transactive.ledger.messages.attributes import (
    attribute_columns,
    registry_bus_mismatches,
    start_recovering_signers,
    verify_batch,
)
from transactive.ledger.messages.commitments import (
    ResultEntry,
    RewardShares,
    SettlementTree,
    result_entries,
    result_tree,
    settle_entries,
)
from transactive.ledger.messages.orders import OrderError, messages_to_orders

if TYPE_CHECKING:
    from transactive.mechanisms._registry import Mechanism
    from transactive.orders import Orders
    from transactive.result import ClearingResult

__all__ = [
    "ClearanceError",
    "Collected",
    "Endorsed",
    "Validator",
    "auctioneer_index",
    "batch_entries",
    "check_members",
    "claim_all",
    "clear_batch",
    "collect",
    "collect_roots",
    "domain_of",
    "endorse_and_submit",
    "miner_order",
    "open_and_commit",
    "open_slot",
    "preflight",
    "recompute",
    "run_slot",
    "settle",
    "settled_by",
    "settlement_rows",
    "slot_rewards",
    "submit",
    "with_rewards",
]




class ClearanceError(ValueError):
    """A batch cannot be recomputed, or the validators did not reach the threshold."""


def recompute(
    batch: SlotBatch,
    *,
    verify: bool = True,
    pool: WorkerPool | None = None,
    rewards: RewardShares | None = None,
    cleared: tuple[Orders, Orders, ClearingResult] | None = None,
) -> tuple[ResultEntry, ...]:
    """The result entries of ``batch`` recomputed from its orders, attributes, mechanism and params (pure,
    deterministic).

    ``verify`` re-checks every order (signature, slot, nonce reuse inside the batch) and every attributes
    record (signature, slot, one per trader) first; the auctioneer must commit only valid ones, so any
    rejected order or record is a :class:`ClearanceError`.

    Attributes (grid-aware mechanisms, :mod:`transactive.ledger.messages.attributes`): every trader must have one
    record when the batch has any, and every record must belong to a trader of the batch; their columns
    (``bus``, ``distance_pref_m``, ``a``, ``b``, ``c``, ``omega``, ``alpha``) reach the mechanism through
    :func:`~transactive.ledger.messages.orders.messages_to_orders`.

    DSO (``batch.dso``): its entry carries the clearing's grid charges
    (:func:`~transactive.ledger.messages.commitments.result_entries`); the sellers' credits are then rebalanced
    around it (:func:`~transactive.ledger.messages.commitments.settle_entries` with ``keep=(dso,)``, zero shares
    when ``rewards`` is None) so the entries balance to the micro-token. A clearing with grid charges and
    no DSO is a :class:`ClearanceError`.

    ``rewards``: the slot's reward shares (:func:`slot_rewards`); the entries then already carry the
    auctioneer and miner rewards taken from the sellers' credits
    (:func:`~transactive.ledger.messages.commitments.settle_entries`), so ``MarketSlots.settle_batch`` balances to
    the micro-token (batch mode) or the claims add up exactly to the debits, the reward leaves included
    (claims mode, ``rewards.auctioneer`` set). ``None``: the mechanism's entries as they are (off-chain
    use; with a DSO still rebalanced around its charges).

    ``cleared``: this validator's own :func:`clear_batch` of this very batch computed earlier (the
    auctioneer clears the batch once before it commits it, :func:`clear_batch` with ``verify=False``); the
    mechanism is then not run again, but with ``verify`` every signature is still checked here.
    """
    return with_rewards(batch, batch_entries(batch, verify=verify, pool=pool, cleared=cleared), rewards)


def batch_entries(
    batch: SlotBatch,
    *,
    verify: bool = True,
    pool: WorkerPool | None = None,
    cleared: tuple[Orders, Orders, ClearingResult] | None = None,
) -> list[ResultEntry]:
    """The first part of :func:`recompute`: the clearing's integer entries
    (:func:`~transactive.ledger.messages.commitments.result_entries`) before the slot's rewards and the DSO's
    rebalancing; ``recompute(batch, ..., rewards=r) == with_rewards(batch, batch_entries(batch, ...), r)``, so a
    caller that needs the entries with several reward shares (the auctioneer: none before it commits, then the
    slot's) converts the clearing once."""
    sellers, buyers, result = clear_batch(batch, verify=verify, pool=pool, cleared=cleared)
    try:
        # the traders' ids are their messages' EIP-55 addresses: not parsed again
        return result_entries(result, sellers, buyers, dso=batch.dso,
                              addresses={o.message.trader: o.message.trader_bytes for o in batch.orders})
    except ValueError as exc:
        raise ClearanceError(f"slot {batch.slot}: {exc}") from exc


def with_rewards(
    batch: SlotBatch, entries: Sequence[ResultEntry], rewards: RewardShares | None
) -> tuple[ResultEntry, ...]:
    """The last part of :func:`recompute`: ``entries`` (:func:`batch_entries`) with the slot's ``rewards`` taken
    from the fund's row, and for a batch naming a DSO rebalanced around its charges
    (:func:`~transactive.ledger.messages.commitments.settle_entries`); ``entries`` is not changed."""
    if rewards is None and batch.dso is None:
        return tuple(entries)
    try:
        return tuple(settle_entries(entries, rewards or RewardShares(),
                                    keep=() if batch.dso is None else (batch.dso,)))
    except ValueError as exc:
        raise ClearanceError(f"slot {batch.slot}: {exc}") from exc


def clear_batch(
    batch: SlotBatch,
    *,
    verify: bool = True,
    pool: WorkerPool | None = None,
    cleared: tuple[Orders, Orders, ClearingResult] | None = None,
) -> tuple[Orders, Orders, ClearingResult]:
    """``(sellers, buyers, result)``: the batch's orders (ids = trader addresses, attribute columns from the
    signed attributes) and the mechanism's clearing of them, before any conversion to integer entries
    (the trades, grid charges and details of a grid-aware mechanism are in ``result.details``).
    :class:`ClearanceError` for anything that does not verify or does not fit the mechanism.

    With ``verify`` the worker processes of ``pool`` recover the signers while this process clears: with
    ``c`` workers (the machine's ``c`` cores) at most ``c - 1`` at a time, this process keeping a core for the
    clearing, then every core on what is left (:class:`~transactive.ledger.clearance.overlap.Beside`); a pool of
    one worker checks them here, first. ``cleared``: the caller's own earlier clearing of this batch (returned
    as is once ``verify`` passed)."""
    # deferred: the grid-aware registry imports the matching layer
    from transactive.marketfile import MarketFileError, parse_params
    from transactive.registry import full_registry

    s = batch.slot
    if batch.mechanism is None:
        raise ClearanceError(f"slot {s}: the batch names no mechanism")
    mechanism = full_registry().get(batch.mechanism)
    if mechanism is None:
        raise ClearanceError(f"slot {s}: unknown mechanism {batch.mechanism!r}")
    if not verify:
        return cleared if cleared is not None else _clear(batch, mechanism, parse_params, MarketFileError)
    with ExitStack() as stack:  # one (lazily started) pool for the orders and the attributes
        shared = pool if pool is not None else stack.enter_context(WorkerPool())
        # the workers recover the signers while this process clears the batch; nothing is returned (nor
        # endorsed) unless every signature verifies, and a signature problem is reported before any other
        beside = Beside(shared)
        stack.callback(beside.close)  # on any exit: no chunks handed out that nobody collects
        signers = start_recovering_signers(batch.orders, batch.attributes, batch.domain, beside)
        failure: ClearanceError | None = None
        try:
            if cleared is None:
                cleared = _clear(batch, mechanism, parse_params, MarketFileError)
        except ClearanceError as exc:
            failure = exc
        problems = verify_batch(batch.orders, batch.attributes, batch.domain, slot=s, signers=signers()).problems()
        if problems:
            raise ClearanceError(f"slot {s}: {problems[0]}")
    if failure is not None:
        raise failure
    assert cleared is not None
    return cleared


def _clear(
    batch: SlotBatch, mechanism: Mechanism[Any], parse_params: Any, params_error: type[Exception]
) -> tuple[Orders, Orders, ClearingResult]:
    s = batch.slot
    try:
        params = parse_params(mechanism, dict(batch.params or {}))
    except params_error as exc:
        raise ClearanceError(f"slot {s}: {exc}") from exc
    columns: dict[str, dict[str, Any]] | None = None
    if batch.attributes:
        traders = {o.message.trader for o in batch.orders}
        stray = [a.message.trader for a in batch.attributes if a.message.trader not in traders]
        if stray:
            raise ClearanceError(f"slot {s}: attributes of {stray[0]}, who has no order in the batch")
        columns = attribute_columns(batch.attributes)
    try:
        sellers, buyers = messages_to_orders((o.message for o in batch.orders), attributes=columns)
    except OrderError as exc:
        raise ClearanceError(f"slot {s}: {exc}") from exc
    try:
        result = mechanism.clear(sellers, buyers, params)
    except ValueError as exc:  # OrdersError / ParamError / GridError: the batch does not fit the mechanism
        raise ClearanceError(f"slot {s}: {mechanism.name}: {exc}") from exc
    return sellers, buyers, result


def slot_rewards(chain: Chain, slots: Contract, slot: int) -> RewardShares | None:
    """The reward shares ``recompute`` must apply to an opened ``slot``: the shares the slot was opened
    with; for a claims-mode slot also its auctioneer (the rewards are then leaves); ``None`` for a slot
    that is not open."""
    record = chain.call(slots, "slots", slot)
    mode = int(record[1])
    if mode == MODE_BATCH:
        return RewardShares(int(record[7]), int(record[8]))
    if mode == MODE_CLAIMS:
        return RewardShares(int(record[7]), int(record[8]), auctioneer=str(record[2]))
    return None


def check_members(
    chain: Chain, slots: Contract, batch: SlotBatch, *, bus_cache: MutableMapping[str, str] | None = None
) -> list[str]:
    """What the Registry contradicts in a grid-aware batch (empty when nothing): a signed bus that is not
    the trader's member bus (the Registry is the authority on location), or a ``dso`` without the DSO
    role. :func:`run_slot` refuses such a batch before opening the slot; a service should check this
    before it commits. ``bus_cache``: see :func:`~transactive.ledger.messages.attributes.registry_bus_mismatches`."""
    registry = contract_at("Registry", str(chain.call(slots, "registry")))
    problems = registry_bus_mismatches(chain, registry, batch.attributes, cache=bus_cache)
    if batch.dso is not None and not chain.call(registry, "has_role", batch.dso, ROLE_DSO):
        problems.append(f"dso {batch.dso} does not have the DSO role in the Registry")
    return problems


def preflight(
    chain: Chain,
    slots: Contract,
    batch: SlotBatch,
    *,
    pool: WorkerPool | None = None,
    bus_cache: MutableMapping[str, str] | None = None,
) -> None:
    """What the auctioneer checks before it opens and commits a slot: every order and attributes record
    verifies (:func:`~transactive.ledger.audit.proofs.audit_batch`) and the Registry agrees with the batch
    (:func:`check_members`, with ``bus_cache``). :class:`ClearanceError` naming the first problem."""
    problems = audit_batch(batch, pool=pool) or check_members(chain, slots, batch, bus_cache=bus_cache)
    if problems:
        raise ClearanceError(f"slot {batch.slot}: {problems[0]}")


def auctioneer_index(slot: int, n_validators: int) -> int:
    """Index of the slot's auctioneer in the validator list: ``slot mod n`` (as ``MarketSlots``)."""
    if n_validators < 1:
        raise ValueError("no validators")
    return slot % n_validators


@dataclass(frozen=True)
class Endorsed:
    """One validator's answer for a slot: the roots it computed, its entries and its signature."""

    validator: str
    slot: int
    order_root: bytes
    result_root: bytes
    results: tuple[ResultEntry, ...]
    signature: bytes


class Validator:
    """An in-process validator holding its signing key; ``pool``: the long-lived :class:`WorkerPool` its
    signature checks use (else each recomputation of a large batch starts and stops a temporary one)."""

    def __init__(self, private_key: bytes, pool: WorkerPool | None = None) -> None:
        self._signer = Signer(private_key)
        self.pool = pool

    @property
    def address(self) -> str:
        return self._signer.address

    def solve(self, batch: SlotBatch, rewards: RewardShares | None = None) -> tuple[ResultEntry, ...]:
        """The result entries this validator obtains (honest: :func:`recompute`)."""
        return recompute(batch, rewards=rewards, pool=self.pool)

    def endorse(self, batch: SlotBatch, rewards: RewardShares | None = None) -> Endorsed:
        """Recompute ``batch`` and sign ``Endorsement(slot, orderRoot, resultRoot)`` for the computed root."""
        results = self.solve(batch, rewards)
        return self.sign_root(batch.domain, batch.slot, batch.order_root, result_tree(batch.slot, results).root,
                              results)

    def sign_root(self, domain: Domain, slot: int, order_root: bytes, result_root: bytes,
                  results: tuple[ResultEntry, ...] = ()) -> Endorsed:
        """Sign ``Endorsement(slot, orderRoot, resultRoot)`` for a root this validator computed elsewhere (e.g.
        in a worker process, or a settlement's postings root); ``results``: its entries, when at hand."""
        signature = endorse(self._signer, domain, slot, order_root, result_root)
        return Endorsed(self.address, slot, order_root, result_root, results, signature)


@dataclass(frozen=True)
class Collected:
    """The outcome of comparing the validators' roots for one slot."""

    slot: int
    order_root: bytes
    result_root: bytes | None
    results: tuple[ResultEntry, ...]
    signers: tuple[str, ...]
    signatures: tuple[bytes, ...]
    dissenters: tuple[str, ...]

    @property
    def accepted(self) -> bool:
        return self.result_root is not None


def collect(
    batch: SlotBatch, answers: Sequence[Endorsed], *, validators: Sequence[str], k: int
) -> Collected:
    """Compare the validators' endorsements of ``batch`` (:func:`collect_roots` over its domain, slot and
    order root)."""
    return collect_roots(batch.domain, batch.slot, batch.order_root, answers, validators=validators, k=k)


def collect_roots(
    domain: Domain, slot: int, order_root: bytes, answers: Sequence[Endorsed], *, validators: Sequence[str], k: int
) -> Collected:
    """Compare the validators' endorsements: the result root with at least ``k`` distinct valid signatures
    over ``order_root`` wins (at most one can when ``2k > n``; otherwise the one with most signatures, ties
    broken by first answer); every other validator that answered is a dissenter. A signature that does not
    verify for the root it claims counts for nothing and makes its validator a dissenter too.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    by_root: dict[bytes, list[Endorsed]] = {}
    for a in answers:
        valid = valid_endorsements(
            domain, slot, order_root, a.result_root, signatures=[a.signature], validators=validators,
        )
        if a.order_root == order_root and valid and valid[0][0].lower() == a.validator.lower():
            group = by_root.setdefault(a.result_root, [])
            if all(g.validator.lower() != a.validator.lower() for g in group):
                group.append(a)
    best: list[Endorsed] = max(by_root.values(), key=len, default=[])
    answered = [a.validator for a in answers]
    if len(best) < k:
        return Collected(slot, order_root, None, (), (), (), tuple(answered))
    agreeing = {g.validator.lower() for g in best}
    dissenters = tuple(v for v in dict.fromkeys(answered) if v.lower() not in agreeing)
    results = next((g.results for g in best if g.results), ())
    return Collected(
        slot, order_root, best[0].result_root, results,
        tuple(g.validator for g in best), tuple(g.signature for g in best), dissenters,
    )


def miner_order(slot: int, validators: Sequence[str], collected: Collected) -> list[str]:
    """Who submits the accepted result, in turn until one is accepted (the miner): the validators that
    endorsed the accepted root, in list order starting after the auctioneer ``validators[slot mod n]``.
    Dissenters and validators that did not answer never submit (seed 001 Fig. 4, SEED-NOTES §7: the miner
    reward goes to the validator whose solution is the valid one)."""
    n = len(validators)
    start = auctioneer_index(slot, n) + 1
    agreeing = {v.lower() for v in collected.signers}
    return [m for m in (validators[(start + j) % n] for j in range(n)) if m.lower() in agreeing]


def submit(chain: Chain, slots: Contract, collected: Collected, miners: Sequence[str], k: int, *,
           rows: Sequence[tuple[str, int, int]] | None = None) -> tuple[str, Any]:
    """Submit the accepted result with ``k`` signatures, by each of ``miners`` in turn until one is accepted
    (the first valid solution wins the miner reward); returns the miner and the receipt of its transaction.
    ``ClearanceError`` if none.

    ``rows`` (a batch-mode slot's settlement rows in leaf-hash order, :func:`settlement_rows`): the first
    miner submits and settles in one ``MarketSlots.submit_and_settle`` transaction; if the chain refuses it
    (a dispute window is set, or a deployment older than that function) the result is submitted alone, as
    without ``rows``, and the slot is left CLEARED for ``settle_batch``. :func:`settled_by` tells which."""
    if collected.result_root is None:
        raise ClearanceError(f"slot {collected.slot}: fewer than {k} validators agree on a result root")
    signatures = list(collected.signatures[:k])
    if rows is not None and miners:
        try:
            return miners[0], chain.transact(slots, "submit_and_settle", collected.slot, signatures, list(rows),
                                             sender=miners[0])
        except ChainRevert:
            pass
    reasons = []
    for miner in miners:
        try:
            receipt = chain.transact(slots, "submit_result", collected.slot, collected.result_root, signatures,
                                     sender=miner)
        except ChainRevert as exc:
            reasons.append(exc.reason)
            continue
        return miner, receipt
    raise ClearanceError(f"slot {collected.slot}: no submission accepted ({'; '.join(reasons)})")


def settled_by(slots: Contract, receipt: Any) -> bool:
    """Whether the transaction of ``receipt`` settled its slot (``SlotSettled``: a ``submit_and_settle``)."""
    return bool(decode_events(slots, receipt, "SlotSettled"))


def settlement_rows(slot: int, entries: Sequence[ResultEntry]) -> list[tuple[str, int, int]]:
    """A batch-mode slot's ``(account, energy_wh, amount_micro)`` rows in leaf-hash order, as ``settle_batch`` and
    ``submit_and_settle`` take them."""
    tree = SettlementTree.build([e.values(slot) for e in entries])
    return [(a, e, m) for _, a, e, m in tree.rows]


def run_slot(
    chain: Chain,
    slots: Contract,
    batch: SlotBatch,
    validators: Sequence[Validator],
    *,
    k: int,
    mode: int = 1,
    bus_cache: MutableMapping[str, str] | None = None,
) -> tuple[SlotBatch, Collected, str]:
    """One whole Proof-of-Clearance round on chain: the auctioneer ``validators[slot % n]`` opens the slot
    and commits the order root (:func:`open_and_commit`, skipping what the chain already has, e.g. a
    claims-mode slot opened early so buyers could escrow); every validator endorses; the roots are
    compared and the agreeing validators submit in :func:`miner_order`, the first accepted one being the
    miner (:func:`endorse_and_submit`).

    The batch is first checked (:func:`preflight`: signatures, and for a grid-aware batch the Registry's
    buses -- through ``bus_cache`` when the caller keeps one -- and DSO role); a problem is a
    :class:`ClearanceError` and nothing is sent.
    ``validators`` must be in the Registry's order. Returns the batch with its results and endorsements
    filled in, the comparison, and the miner.
    """
    preflight(chain, slots, batch, bus_cache=bus_cache)
    addresses = [v.address for v in validators]
    open_and_commit(chain, slots, batch.slot, mode=mode, order_root=batch.order_root, count=len(batch.orders),
                    auctioneer=addresses[auctioneer_index(batch.slot, len(addresses))])
    rewards = slot_rewards(chain, slots, batch.slot)
    collected, miner, _ = endorse_and_submit(chain, slots, [v.endorse(batch, rewards) for v in validators],
                                             domain=batch.domain, slot=batch.slot, order_root=batch.order_root,
                                             validators=addresses, k=k)
    final = batch.endorsed(collected.results, collected.signatures)
    return final, collected, miner


def open_and_commit(
    chain: Chain,
    slots: Contract,
    slot: int,
    *,
    mode: int,
    order_root: bytes,
    count: int,
    auctioneer: str,
    before_commit: Callable[[], None] | None = None,
    sent: Callable[[str, Any], None] | None = None,
) -> int:
    """Steps 1 of a round, resumable: the auctioneer opens ``slot`` in ``mode`` if it is CLOSE
    (:func:`open_slot`), then -- after ``before_commit`` (e.g. the debtors' escrow of a claims-mode
    settlement) -- commits ``order_root`` over ``count`` leaves if it is FOR_SALE. Without ``before_commit``
    it first tries to open and commit in one transaction (``MarketSlots.open_and_commit``, no read before:
    the chain refuses it, sending nothing, unless the slot is CLOSE), and reads the slot's state only when
    that is refused (a resumed round, or a deployment older than that function: then the two calls).
    ``sent(step, receipt)`` is told of every transaction.
    Returns the slot's state afterwards (``RESERVE_NOT_MET`` once committed, or whatever later state the
    chain already has)."""
    if before_commit is None:  # a fresh slot needs no read: the chain refuses a slot that is not CLOSE
        try:
            receipt = chain.transact(slots, "open_and_commit", slot, mode, order_root, count, sender=auctioneer)
        except ChainRevert:  # a slot opened already, or a contract deployed before open_and_commit: as below
            pass
        else:
            if sent is not None:
                sent("open_and_commit", receipt)
            return RESERVE_NOT_MET
    state = int(chain.call(slots, "slots", slot)[0])
    if state == CLOSE:
        receipt = chain.transact(slots, "open_slot", slot, mode, sender=auctioneer)
        if sent is not None:
            sent("open_slot", receipt)
        state = FOR_SALE
    elif state == FOR_SALE:
        open_slot(chain, slots, slot, mode, auctioneer)  # checks the mode it was opened in
    if state == FOR_SALE:
        if before_commit is not None:
            before_commit()
        receipt = chain.transact(slots, "commit_orders", slot, order_root, count, sender=auctioneer)
        if sent is not None:
            sent("commit_orders", receipt)
        state = RESERVE_NOT_MET
    return state


def endorse_and_submit(
    chain: Chain,
    slots: Contract,
    answers: Sequence[Endorsed],
    *,
    domain: Domain,
    slot: int,
    order_root: bytes,
    validators: Sequence[str],
    k: int,
    before_submit: Callable[[Collected, str], Collected] | None = None,
    rows: Sequence[tuple[str, int, int]] | None = None,
) -> tuple[Collected, str, Any]:
    """Steps 4-5 of a round: compare the ``answers`` (:func:`collect_roots`), then the agreeing validators
    submit the root with ``k`` signatures in :func:`miner_order` until one is accepted. ``before_submit``
    (the comparison, the first miner) is called before anything is sent -- e.g. to store the root and the
    signatures -- and returns the comparison to submit (e.g. with the signatures stored earlier); ``rows``:
    submit and settle in one transaction when the chain accepts it (:func:`submit`). Returns the comparison,
    the miner and its receipt; ``ClearanceError`` without ``k`` agreeing validators."""
    collected = collect_roots(domain, slot, order_root, answers, validators=validators, k=k)
    if collected.result_root is None:
        raise ClearanceError(f"slot {slot}: fewer than {k} validators agree on a result root")
    miners = miner_order(slot, validators, collected)
    if before_submit is not None:
        collected = before_submit(collected, miners[0])
    miner, receipt = submit(chain, slots, collected, miners, k, rows=rows)
    return collected, miner, receipt


def settle(chain: Chain, slots: Contract, batch: SlotBatch, *, sender: str | None = None) -> None:
    """Settle a CLEARED batch-mode slot with ``MarketSlots.settle_batch``: every result entry as a row, in
    leaf-hash order (buyers must have approved the contract for their debits)."""
    chain.transact(slots, "settle_batch", batch.slot, settlement_rows(batch.slot, batch.results), sender=sender)


def open_slot(chain: Chain, slots: Contract, slot: int, mode: int, auctioneer: str) -> None:
    """Open ``slot`` in ``mode`` as its auctioneer unless it is already FOR_SALE (opened in that mode;
    ``ClearanceError`` if in another)."""
    record = chain.call(slots, "slots", slot)
    if int(record[0]) == FOR_SALE:
        if int(record[1]) != mode:
            raise ClearanceError(f"slot {slot}: already open in mode {int(record[1])}, not {mode}")
        return
    chain.transact(slots, "open_slot", slot, mode, sender=auctioneer)


def claim_all(chain: Chain, slots: Contract, batch: SlotBatch, *, sender: str | None = None) -> int:
    """Claim every not yet claimed leaf of a CLEARED claims-mode slot with its Merkle proof, debits first
    (credits are paid from the pool the debits fill); returns the number of claims sent. Anyone may send
    them: tokens go to each leaf's account (the miner's reward leaf to the slot's miner)."""
    tree = SettlementTree.build([e.values(batch.slot) for e in batch.results])
    rows = sorted(tree.rows, key=lambda r: r[3] >= 0)  # debits, then zeros and credits
    sent = 0
    for row in rows:
        if chain.call(slots, "claimed", batch.slot, row[1]):
            continue
        chain.transact(slots, "claim", *row, tree.proof(row), sender=sender)
        sent += 1
    return sent


def domain_of(chain: Chain, slots: Contract) -> Domain:
    """The EIP-712 domain of a deployed ``MarketSlots`` contract."""
    return Domain(chain_id=chain.chain_id, verifying_contract=slots.address)

