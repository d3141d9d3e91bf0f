"""Per-slot commitments: the order tree and the result tree (Merkle roots the slot contract stores).

* **Order leaf**: values ``(bytes32 orderStructHash)``, i.e. ``keccak256(keccak256(hashStruct(Order)))``
  (``abi.encode`` of one ``bytes32`` is the word itself). The struct hash, not the domain digest, is the
  leaf value: the tree lives in one contract for one slot, and a contract checking a proof recomputes the
  struct hash from the order fields with no domain separator needed.
* **Result leaf**: ``abi.encode(uint256 slot, address account, int256 energyWh, int256 amountMicro)``;
  ``amountMicro > 0`` is a credit to the account, ``< 0`` a debit; ``energyWh > 0`` delivered / sold,
  ``< 0`` bought. Every account of the slot gets exactly **one** leaf (zeros when it did not trade; an
  account on both sides gets its net figures), in order of first appearance, sellers before buyers: the
  slot contract pays claims one leaf per account and rejects repeated rows.
* **Market leaf** (batch format 3): values ``(bytes32 marketStructHash)``, the EIP-712 ``hashStruct`` of
  ``Market(uint256 slot,string mechanism,string params,address dso)`` with ``params`` the canonical JSON
  of the batch's raw params (sorted keys, no spaces) and ``dso`` the zero address when the batch names none
  (:func:`market_struct_hash`): the order tree's last leaf, so the root the chain records commits to the
  mechanism, its params and the DSO too (an edit shows on a slot without trades as well).
* Both trees sort their leaves by hash (OpenZeppelin's default), so a root depends only on the set of
  orders / entries; the empty tree's root is ``bytes32(0)``. The batch's list order (the auctioneer's
  arrival order, which breaks price ties in clearing) is carried by the published batch file, which the
  validators recompute from.

Rounding (:func:`result_entries`, the one definition of :mod:`transactive.settlement.auction_entries`
shared with the statements' auction stage): per side, Wh and micro-tokens are apportioned so they add up
to the side's rounded total (:func:`~transactive.units.apportion`); nothing is cut or rebalanced. The
community market fund's row (:data:`FUND_LEAF`) takes DPDA's excess energy and the money imbalance (a
surplus or deficit, then the rewards); the :data:`ME_LEAF` row commits the rewards' base
(``docs/settlement.md``).

Example:
    >>> entry = ResultEntry("0x" + "11" * 20, energy_wh=-1500, amount_micro=-303450)
    >>> len(result_leaf(7, entry))
    32
    >>> order_tree([]).root == bytes(32)
    True
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transactive.crypto.eip712 import Types, hash_struct
from transactive.crypto.encoding import (
    INT256_MAX,
    INT256_MIN,
    EncodingError,
    address_word,
    canonical_address,
    int256_word,
    keccak256,
    parse_address,
    to_checksum_address,
    uint256_word,
)
from transactive.crypto.merkle import MerkleTree, leaf_hash_of_encoded, process_proof
from transactive.ledger.messages.orders import OrderMessage

if TYPE_CHECKING:
    from transactive.ledger.messages.attributes import ParticipantAttributes
from transactive.orders import Orders
from transactive.result import ClearingResult
from transactive.settlement.auction_entries import (  # grid_charge_micro: re-exported (the DSO's income)
    PPM,
    auction_stage,
    grid_charge_micro,  # noqa: F401
    rewards_micro,
)
from transactive.settlement.fund import no_trade_result, settle_auction

ORDER_LEAF_TYPES: tuple[str, ...] = ("bytes32",)
RESULT_LEAF_TYPES: tuple[str, ...] = ("uint256", "address", "int256", "int256")


@dataclass(frozen=True)
class ResultEntry:
    """One account's outcome in a slot (signed integers, see the module docstring for the signs)."""

    account: str
    energy_wh: int
    amount_micro: int
    account_bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        account, raw = canonical_address(self.account)
        object.__setattr__(self, "account_bytes", raw)
        object.__setattr__(self, "account", account)
        for value, what in ((self.energy_wh, "energyWh"), (self.amount_micro, "amountMicro")):
            if type(value) is not int or not INT256_MIN <= value <= INT256_MAX:
                int256_word(value, what=what)  # the encoder's own message for a bad value

    @classmethod
    def _canonical(cls, account: str, account_bytes: bytes, energy_wh: int, amount_micro: int) -> ResultEntry:
        """An entry whose fields are known sound (``account`` the EIP-55 form of the 20 ``account_bytes``, the
        amounts ints within int256): built without the constructor's checks (:func:`result_entries`)."""
        entry = object.__new__(cls)
        entry.__dict__.update(account=account, energy_wh=energy_wh, amount_micro=amount_micro,
                              account_bytes=account_bytes)
        return entry

    def values(self, slot: int) -> tuple[int, str, int, int]:
        """The leaf values ``(slot, account, energyWh, amountMicro)``."""
        return (slot, self.account, self.energy_wh, self.amount_micro)

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "energyWh": self.energy_wh, "amountMicro": self.amount_micro}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResultEntry:
        try:
            return cls(str(data["account"]), data["energyWh"], data["amountMicro"])
        except KeyError as exc:
            raise EncodingError(f"result entry: missing field {exc.args[0]!r}") from exc


def order_leaf(message: OrderMessage) -> bytes:
    """Leaf hash of an order: ``keccak256(keccak256(abi.encode(bytes32 structHash)))``."""
    return leaf_hash_of_encoded(message.struct_hash())


def result_leaf(slot: int, entry: ResultEntry, *, slot_word: bytes | None = None) -> bytes:
    """Leaf hash of ``abi.encode(uint256 slot, address account, int256 energyWh, int256 amountMicro)``;
    ``slot_word``: ``slot`` already encoded (one encoding for a whole tree)."""
    return leaf_hash_of_encoded(
        (uint256_word(slot, what="slot") if slot_word is None else slot_word)
        + address_word(entry.account_bytes)
        + int256_word(entry.energy_wh, what="energyWh")
        + int256_word(entry.amount_micro, what="amountMicro")
    )


Row = tuple[int, str, int, int]
"""A settlement row ``(slot, account, energyWh, amountMicro)``: the values of one result leaf."""


def settlement_leaf(row: Row) -> bytes:
    """Leaf hash of a settlement row (the same leaf as :func:`result_leaf`)."""
    slot, account, energy_wh, amount_micro = row
    return result_leaf(slot, ResultEntry(account, energy_wh, amount_micro))


@dataclass(frozen=True)
class SettlementTree:
    """The result tree over settlement rows, as ``MarketSlots.settle_batch`` rebuilds it (OpenZeppelin
    StandardMerkleTree layout, :class:`~transactive.crypto.merkle.MerkleTree`); ``rows`` are in leaf-hash
    order (the order ``settle_batch`` requires), accounts in EIP-55 form.

    Example:
        >>> rows = [(1, "0x" + "11" * 20, 5, -7), (1, "0x" + "22" * 20, -5, 7)]
        >>> tree = SettlementTree.build(rows)
        >>> all(tree.verify(r, tree.proof(r)) for r in rows)
        True
    """

    rows: tuple[Row, ...]
    tree: MerkleTree = field(repr=False, compare=False)

    @classmethod
    def build(cls, rows: Sequence[Row]) -> SettlementTree:
        """``ValueError`` for no rows or a repeated row."""
        if not rows:
            raise ValueError("a settlement tree needs at least one row")
        leaves = [settlement_leaf(r) for r in rows]
        if len(set(leaves)) != len(leaves):
            raise ValueError("duplicate settlement row")
        order = sorted(range(len(rows)), key=leaves.__getitem__)
        canonical = tuple((s, to_checksum_address(parse_address(a)), e, m) for s, a, e, m in (rows[k] for k in order))
        return cls(rows=canonical, tree=MerkleTree([leaves[k] for k in order]))

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def nodes(self) -> tuple[bytes, ...]:
        return self.tree.nodes

    def proof(self, row: Row) -> list[bytes]:
        """Sibling hashes from the row's leaf up to the root (``KeyError`` if the row is not in the tree)."""
        h = settlement_leaf(row)
        for k in range(len(self.tree)):
            if self.tree.leaf(k) == h:
                return self.tree.proof(k)
        raise KeyError("row not in the tree")

    def verify(self, row: Row, proof: Sequence[bytes]) -> bool:
        return process_proof(settlement_leaf(row), proof) == self.root


def attributes_leaf(message: ParticipantAttributes) -> bytes:
    """Leaf hash of a participant's signed attributes: ``keccak256(keccak256(hashStruct(Attributes)))``
    (a leaf of the order tree; the type hash tells it from an order leaf)."""
    return leaf_hash_of_encoded(message.struct_hash())


MARKET_FIELDS: tuple[tuple[str, str], ...] = (
    ("slot", "uint256"),
    ("mechanism", "string"),
    ("params", "string"),
    ("dso", "address"),
)
MARKET_TYPES: Types = {"Market": MARKET_FIELDS}
NO_DSO = "0x" + "00" * 20


def canonical_params(params: Mapping[str, Any] | None) -> str:
    """The canonical JSON of a batch's raw params (sorted keys, no spaces, no NaN): what the market leaf
    commits to (``ValueError`` for params JSON cannot carry)."""
    return json.dumps(dict(params or {}), sort_keys=True, separators=(",", ":"), allow_nan=False)


def market_struct_hash(slot: int, mechanism: str | None, params: Mapping[str, Any] | None, dso: str | None) -> bytes:
    """``hashStruct(Market(slot, mechanism, canonical params, dso))`` of a batch's ``market`` block (an absent
    mechanism as the empty string, an absent DSO as the zero address); ``EncodingError`` for a value that
    cannot be encoded."""
    try:
        params_json = canonical_params(params)
    except (TypeError, ValueError) as exc:
        raise EncodingError(f"market params: {exc}") from exc
    return hash_struct("Market", MARKET_TYPES, {"slot": slot, "mechanism": mechanism or "", "params": params_json,
                                                "dso": dso or NO_DSO})


def market_leaf(struct_hash: bytes) -> bytes:
    """Leaf hash of a batch's market block: ``keccak256(keccak256(marketStructHash))`` (the type hash tells it
    from an order or attributes leaf)."""
    return leaf_hash_of_encoded(struct_hash)


def order_tree(
    messages: Sequence[OrderMessage], attributes: Sequence[ParticipantAttributes] = (),
    market: bytes | None = None,
) -> MerkleTree:
    """The slot's order tree -- the one computation of the order root the chain records: one leaf per order,
    then one per attributes record, then (``market``: its :func:`market_struct_hash`, batch format 3) the
    market leaf (positions = batch order; leaves sorted by hash in the tree). Without attributes and market
    the root is that of the orders alone (formats 1 and 2)."""
    leaves = [order_leaf(m) for m in messages] + [attributes_leaf(a) for a in attributes]
    if market is not None:
        leaves.append(market_leaf(market))
    return MerkleTree(leaves)


def check_one_entry_per_account(entries: Sequence[ResultEntry]) -> None:
    """Raise ``ValueError`` if an account has more than one entry."""
    if len({e.account_bytes for e in entries}) == len(entries):
        return
    seen: set[bytes] = set()
    for e in entries:
        if e.account_bytes in seen:
            raise ValueError(f"account {e.account} has more than one result entry")
        seen.add(e.account_bytes)


def result_tree(slot: int, entries: Sequence[ResultEntry]) -> MerkleTree:
    """The slot's result tree (positions = entry order; leaves sorted by hash in the tree); one entry per
    account (``ValueError`` otherwise)."""
    check_one_entry_per_account(entries)
    # result_leaf inlined: an entry's account is 20 bytes and its amounts fit int256 (ResultEntry checks them)
    prefix = uint256_word(slot, what="slot") + bytes(12)
    return MerkleTree([keccak256(keccak256(prefix + e.account_bytes + e.energy_wh.to_bytes(32, "big", signed=True)
                                           + e.amount_micro.to_bytes(32, "big", signed=True))) for e in entries])


def result_entries(
    result: ClearingResult, sellers: Orders, buyers: Orders, *, dso: str | None = None,
    addresses: Mapping[str, bytes] | None = None,
) -> list[ResultEntry]:
    """One integer entry per account of a clearing whose participant ids are addresses (as from
    :func:`~transactive.ledger.messages.orders.messages_to_orders`): a seller gets ``(+Wh, +micro)``, a buyer
    ``(-Wh, -micro)``, an account on both sides the sum; order of first appearance, sellers first.

    The integers are :func:`transactive.settlement.auction_entries.auction_stage`, the one definition the
    statements' auction stage (:func:`transactive.settlement.stages.settle_slot`) uses too: each
    participant's energy and payment exactly as the mechanism cleared them (``docs/settlement.md``). Then,
    each only when not all zero:

    * ``dso``: ``(0, +grid charges)``, the clearing's charges rounded once (added to the DSO's own entry if
      it also traded); a clearing with grid charges and no DSO is a ``ValueError``;
    * :data:`FUND_LEAF`: ``(-excess Wh, fund)``, the community market fund's row: DPDA's excess it takes to
      the grid stage and the slot's surplus (> 0) or deficit (< 0) **before rewards**;
    * :data:`ME_LEAF`: ``(0, ME)``, the market exchange in micro-tokens (seed 001 eq. 4), the base of the
      rewards, for a result with a reward term.

    :func:`settle_entries` then takes the slot's rewards out of the fund row, so the entries balance.

    ``addresses``: the 20 bytes of ids known to be in EIP-55 form already (e.g. a batch's traders,
    :attr:`~transactive.ledger.messages.orders.OrderMessage.trader_bytes`), which are then not parsed again;
    the entries are the same with or without it."""
    if len(result.sellers.energy_kwh) != sellers.n or len(result.buyers.energy_kwh) != buyers.n:
        raise ValueError("the result does not match the orders' participants")
    known = addresses or {}
    raw_of: dict[str, bytes] = {}  # EIP-55 form -> 20 bytes, every id once
    canon: list[str] = []
    for pid in (*sellers.ids, *buyers.ids):
        raw = known.get(pid)
        account, raw = (pid, raw) if raw is not None else canonical_address(pid)
        raw_of[account] = raw
        canon.append(account)
    # the fund's policy (transactive.settlement.fund): a clearing that is not individually rational is
    # settled by the community's remedy, exactly as the statements settle it (the fund is unbounded here)
    settled = settle_auction(result, sellers, buyers, canon[: sellers.n], canon[sellers.n :], ppm=(0, 0))
    stage = settled.stage or auction_stage(no_trade_result(result), canon[: sellers.n], canon[sellers.n :],
                                           auctioneer_ppm=0, miner_ppm=0)
    for account in (MINER_LEAF, ME_LEAF, FUND_LEAF):
        if account in raw_of:
            raise ValueError(f"the address {account} cannot trade (it names a special result row)")
    rows = list(stage.rows)  # (account, Wh, micro), one per account, in order of first appearance

    def add(account: str, wh: int, micro: int, *, replace: bool = False) -> None:
        """A special row (or the DSO's charges): added to the account's row if it has one, else appended."""
        account, raw = canonical_address(account)
        if account not in raw_of:
            raw_of[account] = raw
            rows.append((account, wh, micro))
            return
        k = next(k for k, r in enumerate(rows) if r[0] == account)
        rows[k] = (account, wh, micro) if replace else (account, rows[k][1] + wh, rows[k][2] + micro)

    if stage.dso_micro:
        if dso is None:
            raise ValueError(f"the clearing has {stage.dso_micro} micro-tokens of grid charges but no DSO account")
        add(dso, 0, stage.dso_micro)
    if stage.fund_wh or stage.fund_micro:
        add(FUND_LEAF, -stage.fund_wh, stage.fund_micro, replace=True)
    if stage.exchange_micro:
        add(ME_LEAF, 0, stage.exchange_micro, replace=True)
    if all(type(wh) is int and type(micro) is int and INT256_MIN <= wh <= INT256_MAX
           and INT256_MIN <= micro <= INT256_MAX for _, wh, micro in rows):
        return [ResultEntry._canonical(account, raw_of[account], wh, micro) for account, wh, micro in rows]
    return [ResultEntry(account, wh, micro) for account, wh, micro in rows]  # the constructor's own error


MINER_LEAF = "0x0000000000000000000000000000000000000000"
"""Claims mode: the account of the miner's reward leaf (``MarketSlots.MINER_LEAF``, the zero address);
``claim`` pays it to the slot's miner, who is unknown when the root is endorsed."""
ME_LEAF = "0x0000000000000000000000000000000000000001"
"""The row carrying the market exchange ME in micro-tokens (``MarketSlots.ME_LEAF``): the rewards' base."""
FUND_LEAF = "0x0000000000000000000000000000000000000002"
"""The community market fund's row (``MarketSlots.FUND_LEAF``; the contract moves its ``fund`` account)."""
SPECIAL_ROWS = (MINER_LEAF, ME_LEAF, FUND_LEAF)


@dataclass(frozen=True)
class RewardShares:
    """A slot's reward shares in parts per million of its market exchange ME (``MarketSlots`` fixes them
    when the slot is opened): ``auctioneer_ppm`` is X^A (seed 001 eq. 2), ``miner_ppm`` X^M (eq. 3).

    ``auctioneer``: set for a **claims-mode** slot (the slot's auctioneer): the rewards are then leaves of
    the result (:func:`settle_entries`); ``None`` for a batch-mode slot, where ``settle_batch`` pays them."""

    auctioneer_ppm: int = 0
    miner_ppm: int = 0
    auctioneer: str | None = None

    def __post_init__(self) -> None:
        if self.auctioneer_ppm < 0 or self.miner_ppm < 0 or self.auctioneer_ppm + self.miner_ppm > PPM:
            raise ValueError("reward shares must be >= 0 and add up to at most 1,000,000 ppm")
        if self.auctioneer is not None:
            object.__setattr__(self, "auctioneer", to_checksum_address(parse_address(self.auctioneer)))

    def rewards_micro(self, exchange_micro: int) -> tuple[int, int]:
        """``(floor(ME x_A), floor(ME x_M))`` exactly as ``MarketSlots.settle_batch`` computes them."""
        return rewards_micro(exchange_micro, self.auctioneer_ppm, self.miner_ppm)


def exchange_of(entries: Sequence[ResultEntry]) -> int:
    """The market exchange ME (micro-tokens) the entries commit to: the :data:`ME_LEAF` row's amount, else 0."""
    return next((e.amount_micro for e in entries if e.account == ME_LEAF), 0)


def settle_entries(
    entries: Sequence[ResultEntry], shares: RewardShares, *, keep: Collection[str] = ()
) -> list[ResultEntry]:
    """The entries of a slot with its rewards, so ``MarketSlots.settle_batch`` accepts them:
    ``credits + floor(ME x_A) + floor(ME x_M) == debits``, ME the :data:`ME_LEAF` row (seed 001 eq. 2-4).

    The rewards come out of the fund's row (:data:`FUND_LEAF`, created if absent); no participant's entry
    changes (``keep`` is accepted for compatibility; nothing else is ever rebalanced). Claims mode
    (``shares.auctioneer`` set): the rewards then become leaves so the claims balance exactly like a batch
    settlement: ``rA`` added to the auctioneer's entry (a new ``(auctioneer, 0, rA)`` entry if it did not
    trade) and ``(MINER_LEAF, 0, rM)`` appended (``MarketSlots.claim`` pays it to the slot's miner).
    Entry order is kept.

    Example:
        >>> a, b = "0x" + "11" * 20, "0x" + "22" * 20
        >>> out = settle_entries([ResultEntry(a, 2000, 300000), ResultEntry(b, -2000, -300000),
        ...                       ResultEntry(ME_LEAF, 0, 600000)], RewardShares(10_000, 10_000))
        >>> [(e.account[-2:], e.amount_micro) for e in out]
        [('11', 300000), ('22', -300000), ('01', 600000), ('02', -12000)]
    """
    del keep
    reward_a, reward_m = shares.rewards_micro(exchange_of(entries))
    out = list(entries)
    if reward_a or reward_m:
        fund = [k for k, e in enumerate(out) if e.account == FUND_LEAF]
        if fund:
            e = out[fund[0]]
            out[fund[0]] = ResultEntry(e.account, e.energy_wh, e.amount_micro - reward_a - reward_m)
        else:
            out.append(ResultEntry(FUND_LEAF, 0, -reward_a - reward_m))
    if shares.auctioneer is not None:  # claims mode: the rewards are leaves
        raw = parse_address(shares.auctioneer)
        mine = [k for k, e in enumerate(out) if e.account_bytes == raw]
        if mine:
            e = out[mine[0]]
            out[mine[0]] = ResultEntry(e.account, e.energy_wh, e.amount_micro + reward_a)
        else:
            out.append(ResultEntry(shares.auctioneer, 0, reward_a))
        if any(e.account == MINER_LEAF for e in out):
            raise ValueError("the zero address cannot trade (it is the miner's reward leaf)")
        out.append(ResultEntry(MINER_LEAF, 0, reward_m))
    return out
