# pragma version ~=0.4.3
# @license MIT
"""
@title Transactive market slots
@notice One market slot (e.g. 15 minutes) moves CLOSE -> FOR_SALE -> RESERVE_NOT_MET (order batch
        committed, clearing under way) -> CLEARED (result endorsed by k of n validators) -> SETTLED.
        Orders are collected off chain; only the Merkle root of the order batch and of the result go on
        chain. Validators endorse with EIP-712 signatures over
        Endorsement(uint256 slot,bytes32 orderRoot,bytes32 resultRoot) in the domain
        EIP712Domain(string name,string version,uint256 chainId,address verifyingContract) with
        name "Transactive", version "1", verifyingContract = this contract.
@dev Result leaves (OpenZeppelin StandardMerkleTree leaf, internal nodes keccak of the sorted pair):
        keccak256(keccak256(abi.encode(uint256 slot, address account, int256 energyWh, int256 amountMicro)))
     amountMicro > 0: the account receives micro-tokens; < 0: it pays. energyWh is recorded, not checked.
     Auctioneer rotation: validators[slot % n] opens the slot and commits its order batch (open_slot then
     commit_orders, or both in one transaction: open_and_commit).
     Two settlement modes, chosen when the slot is opened:
       MODE_BATCH (1): settle_batch() receives every leaf, sorted by leaf hash (the order
         StandardMerkleTree uses), rebuilds the root exactly as StandardMerkleTree does and moves every
         amount in one transaction (one EnergyToken.move_words call): each row's debit by transferFrom
         (buyers approve this contract beforehand) or credit by transfer, in row order, then the rewards
         (submit_and_settle: the same, in the transaction that submits the root). It must balance: with
         D = sum of debits, C = sum of credits, ME = the amount of the ME_LEAF row (the market exchange of
         seed 001 eq. 4 in micro-tokens, 0 / absent for a result without a reward term; not a credit), rewards
         rA = floor(ME * auctioneer_ppm / 1e6) to the slot's auctioneer and rM = floor(ME * miner_ppm / 1e6)
         to the miner (the validator that submitted the endorsed result), C + rA + rM == D exactly, else the
         whole call reverts. The FUND_LEAF row is the community market fund's (its surplus > 0 or deficit
         < 0, docs/settlement.md): it moves the tokens of the `fund` account (which approves this contract
         like a buyer). At most MAX_ROWS leaves.
       MODE_CLAIMS (2): buyers escrow tokens while the slot is FOR_SALE; after endorsement every account
         claims its single leaf once with a Merkle proof (anyone may submit the claim; tokens always go to
         the account, or to the miner for the MINER_LEAF leaf). A debit leaf moves |amount| from the
         account's escrow into the slot pool and refunds the rest of its escrow; a credit leaf is paid from the pool (and refunds any escrow).
         The pool can never go negative, so no token is created. The rewards are credit leaves: the
         auctioneer's reward is added to the auctioneer's leaf; the miner's (unknown when the root is
         endorsed) is a leaf of MINER_LEAF (the zero address), which claim() pays to the slot's miner.
         The result must contain a leaf (amount 0 if it did not trade) for every escrow depositor.
     An admin may cancel a slot that has not been endorsed yet (e.g. the validators never reached k);
     depositors then withdraw their escrow.
     Challenge path: submit_result fixes the slot's dispute_until = block.number + dispute_blocks (the
     admin-set window at that moment; 0 disables disputes; later changes of the window do not touch slots
     already cleared). Until then any registered validator may dispute(slot): CLEARED -> DISPUTED, and
     the slot can neither settle nor be claimed (nor does either work during the window); a slot with a
     paid claim can be neither disputed nor cancelled. An admin resolves it: resolve_dispute with a root
     re-endorsed by k validators (-> CLEARED, final, settles at once; a corrected root also names its
     miner, one of its endorsers other than the wrong root's submitter, who then earns the miner reward)
     or cancel_slot (-> CANCELLED, escrow withdrawable). There is no dispute bond: a validator can only
     delay a slot until the admin resolves it (see docs/ledger.md).
     Off-contract settlement: an admin may mark a CLEARED batch slot SETTLED with the reference of the
     EnergyToken.settle batch that moved its money (mark_settled_off_contract), so it cannot settle twice.
"""

interface IRegistry:
    def is_validator(account: address) -> bool: view
    def validator_count() -> uint256: view
    def validators(i: uint256) -> address: view
    def threshold() -> uint256: view
    def has_role(account: address, role: uint256) -> bool: view

# EnergyToken.move_words: one packed word per move (its MAX_WORDS = 384 >= MAX_ROWS + 2 rewards)
interface IToken:
    def move_words(words: DynArray[uint256, 384]): nonpayable
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable
    def settled(ref: bytes32) -> bool: view

CLOSE: public(constant(uint256)) = 0
FOR_SALE: public(constant(uint256)) = 1
RESERVE_NOT_MET: public(constant(uint256)) = 2
CLEARED: public(constant(uint256)) = 3
SETTLED: public(constant(uint256)) = 4
CANCELLED: public(constant(uint256)) = 5
DISPUTED: public(constant(uint256)) = 6
MODE_BATCH: public(constant(uint256)) = 1
MODE_CLAIMS: public(constant(uint256)) = 2
ROLE_ADMIN: constant(uint256) = 16
PPM: constant(uint256) = 1_000_000
MAX_ROWS: public(constant(uint256)) = 128
# claims mode: the result leaf of the miner's reward names this account; claim() pays it to the slot's miner
MINER_LEAF: public(constant(address)) = empty(address)
# the result row carrying the market exchange ME (micro-tokens), the base of the rewards; moves no token
ME_LEAF: public(constant(address)) = 0x0000000000000000000000000000000000000001
# the result row of the community market fund; its tokens are those of the `fund` account
FUND_LEAF: public(constant(address)) = 0x0000000000000000000000000000000000000002
MAX_TREE: constant(uint256) = 255
# EnergyToken.move_words's packing: account | amount << 160 (amount < 2**95) | DEBIT_BIT for a debit
DEBIT_BIT: constant(uint256) = 1 << 255
MAX_MOVE_AMOUNT: constant(uint256) = (1 << 95) - 1
MAX_SIGS: public(constant(uint256)) = 32
MAX_PROOF: constant(uint256) = 64
SECP256K1N_HALF: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
ENDORSEMENT_TYPEHASH: constant(bytes32) = keccak256(
    "Endorsement(uint256 slot,bytes32 orderRoot,bytes32 resultRoot)"
)
NAME_HASH: constant(bytes32) = keccak256("Transactive")
VERSION_HASH: constant(bytes32) = keccak256("1")

struct Slot:
    state: uint256
    mode: uint256
    auctioneer: address
    miner: address
    order_root: bytes32
    order_count: uint256
    result_root: bytes32
    auctioneer_ppm: uint256
    miner_ppm: uint256
    pool: uint256
    cleared_block: uint256
    resolved: bool
    dispute_until: uint256
    claims_paid: uint256
    off_chain_ref: bytes32

struct Row:
    account: address
    energy_wh: int256
    amount_micro: int256

event SlotOpened:
    slot: indexed(uint256)
    auctioneer: indexed(address)
    mode: uint256

event OrdersCommitted:
    slot: indexed(uint256)
    order_root: bytes32
    order_count: uint256

event ResultEndorsed:
    slot: indexed(uint256)
    result_root: bytes32
    miner: indexed(address)
    endorsements: uint256

event SlotSettled:
    slot: indexed(uint256)
    debits: uint256
    credits: uint256
    auctioneer_reward: uint256
    miner_reward: uint256

event EscrowDeposited:
    slot: indexed(uint256)
    account: indexed(address)
    amount: uint256

event SlotCancelled:
    slot: indexed(uint256)

event Disputed:
    slot: indexed(uint256)
    validator: indexed(address)

event DisputeResolved:
    slot: indexed(uint256)
    result_root: bytes32
    cancelled: bool

event SettledOffContract:
    slot: indexed(uint256)
    ref: bytes32

event MinerReplaced:
    slot: indexed(uint256)
    previous: indexed(address)
    miner: indexed(address)

event Claimed:
    slot: indexed(uint256)
    account: indexed(address)
    energy_wh: int256
    amount_micro: int256

registry: public(IRegistry)
token: public(IToken)
auctioneer_ppm: public(uint256)
miner_ppm: public(uint256)
slots: public(HashMap[uint256, Slot])
dispute_blocks: public(uint256)
fund: public(address)
escrow: public(HashMap[uint256, HashMap[address, uint256]])
claimed: public(HashMap[uint256, HashMap[address, bool]])


@deploy
def __init__(registry: address, token: address, auctioneer_ppm: uint256, miner_ppm: uint256):
    """
    @param auctioneer_ppm X^A of seed 001 eq. 2 in parts per million of the slot's debits.
    @param miner_ppm X^M of seed 001 eq. 3 in parts per million of the slot's debits.
    """
    assert auctioneer_ppm + miner_ppm <= PPM, "slots: reward shares exceed 100%"
    self.registry = IRegistry(registry)
    self.token = IToken(token)
    self.auctioneer_ppm = auctioneer_ppm
    self.miner_ppm = miner_ppm


@external
def set_rewards(auctioneer_ppm: uint256, miner_ppm: uint256):
    """
    @notice Change X^A and X^M (admins only). Slots already open keep the shares they opened with.
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "slots: not admin"
    assert auctioneer_ppm + miner_ppm <= PPM, "slots: reward shares exceed 100%"
    self.auctioneer_ppm = auctioneer_ppm
    self.miner_ppm = miner_ppm


@external
def set_fund(account: address):
    """
    @notice The community market fund's account (admins only): the FUND_LEAF row moves its tokens.
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "slots: not admin"
    self.fund = account


@internal
@view
def _payee(account: address) -> address:
    if account == FUND_LEAF:
        assert self.fund != empty(address), "slots: no fund account"
        return self.fund
    return account


@internal
@view
def _auctioneer(slot: uint256) -> address:
    n: uint256 = staticcall self.registry.validator_count()
    assert n > 0, "slots: no validators"
    return staticcall self.registry.validators(slot % n)


@external
@view
def auctioneer_of(slot: uint256) -> address:
    """
    @notice The validator whose turn it is to run `slot`: validators[slot % n].
    """
    return self._auctioneer(slot)


@external
@view
def domain_separator() -> bytes32:
    """
    @notice The EIP-712 domain separator (name "Transactive", version "1", this chain, this contract).
    """
    return self._domain_separator()


@internal
@view
def _domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@internal
@view
def _digest(slot: uint256, order_root: bytes32, result_root: bytes32) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(ENDORSEMENT_TYPEHASH, slot, order_root, result_root))
    return keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))


@external
@view
def endorsement_digest(slot: uint256, order_root: bytes32, result_root: bytes32) -> bytes32:
    """
    @notice The EIP-712 digest a validator signs to endorse a result.
    """
    return self._digest(slot, order_root, result_root)


@internal
@pure
def _leaf(slot: uint256, account: address, energy_wh: int256, amount_micro: int256) -> bytes32:
    return keccak256(keccak256(abi_encode(slot, account, energy_wh, amount_micro)))


@external
@pure
def leaf_hash(slot: uint256, account: address, energy_wh: int256, amount_micro: int256) -> bytes32:
    """
    @notice The result leaf of one account (StandardMerkleTree double-keccak leaf).
    """
    return self._leaf(slot, account, energy_wh, amount_micro)


@internal
@pure
def _move(account: address, amount: uint256) -> uint256:
    """
    @dev EnergyToken.move_words's packed credit of `amount` to `account` (a debit adds DEBIT_BIT).
    """
    assert amount <= MAX_MOVE_AMOUNT, "slots: amount too large"
    return convert(account, uint256) | (amount << 160)


@internal
@pure
def _hash_pair(a: bytes32, b: bytes32) -> bytes32:
    if convert(a, uint256) < convert(b, uint256):
        return keccak256(concat(a, b))
    return keccak256(concat(b, a))


@internal
def _open(slot: uint256, mode: uint256, state: uint256) -> address:
    """
    @dev CLOSE -> `state` by the slot's auctioneer or an admin: fixes mode, auctioneer and reward shares.
         Writes only the fields it sets (a zero share is not written: the slot's field is zero already).
    """
    assert self.slots[slot].state == CLOSE, "slots: slot not CLOSE"
    assert mode == MODE_BATCH or mode == MODE_CLAIMS, "slots: unknown mode"
    assert staticcall self.registry.threshold() > 0, "slots: no endorsement threshold"
    auctioneer: address = self._auctioneer(slot)
    if msg.sender != auctioneer:
        assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "slots: not the auctioneer"
    self.slots[slot].state = state
    self.slots[slot].mode = mode
    self.slots[slot].auctioneer = auctioneer
    ppm: uint256 = self.auctioneer_ppm
    if ppm != 0:
        self.slots[slot].auctioneer_ppm = ppm
    ppm = self.miner_ppm
    if ppm != 0:
        self.slots[slot].miner_ppm = ppm
    log SlotOpened(slot=slot, auctioneer=auctioneer, mode=mode)
    return auctioneer


@external
def open_slot(slot: uint256, mode: uint256):
    """
    @notice CLOSE -> FOR_SALE, by the slot's auctioneer or an admin. Fixes auctioneer and reward shares.
    """
    self._open(slot, mode, FOR_SALE)


@external
def open_and_commit(slot: uint256, mode: uint256, order_root: bytes32, order_count: uint256):
    """
    @notice CLOSE -> RESERVE_NOT_MET in one transaction: open_slot then commit_orders by the slot's
            auctioneer (an admin may open a slot, but only the auctioneer commits its orders). Logs
            SlotOpened and OrdersCommitted, as the two calls would. A claims-mode slot whose buyers escrow
            before the commit uses the two calls instead.
    """
    auctioneer: address = self._open(slot, mode, RESERVE_NOT_MET)
    assert msg.sender == auctioneer, "slots: not the auctioneer"
    self._commit(slot, order_root, order_count)


@external
@nonreentrant
def deposit_escrow(slot: uint256, amount: uint256):
    """
    @notice Escrow `amount` micro-tokens for a claims-mode slot while it is FOR_SALE (needs an allowance).
    """
    s: Slot = self.slots[slot]
    assert s.state == FOR_SALE, "slots: slot not FOR_SALE"
    assert s.mode == MODE_CLAIMS, "slots: not a claims slot"
    assert amount > 0, "slots: zero escrow"
    self.escrow[slot][msg.sender] += amount
    assert extcall self.token.transferFrom(msg.sender, self, amount)
    log EscrowDeposited(slot=slot, account=msg.sender, amount=amount)


@external
def commit_orders(slot: uint256, order_root: bytes32, order_count: uint256):
    """
    @notice FOR_SALE -> RESERVE_NOT_MET: the auctioneer commits the Merkle root of the order batch.
    """
    assert self.slots[slot].state == FOR_SALE, "slots: slot not FOR_SALE"
    assert msg.sender == self.slots[slot].auctioneer, "slots: not the auctioneer"
    self.slots[slot].state = RESERVE_NOT_MET
    self._commit(slot, order_root, order_count)


@internal
def _commit(slot: uint256, order_root: bytes32, order_count: uint256):
    assert order_root != empty(bytes32), "slots: empty order root"
    self.slots[slot].order_root = order_root
    self.slots[slot].order_count = order_count
    log OrdersCommitted(slot=slot, order_root=order_root, order_count=order_count)


@internal
@view
def _endorsers(slot: uint256, order_root: bytes32, result_root: bytes32,
               signatures: DynArray[Bytes[65], MAX_SIGS]) -> DynArray[address, MAX_SIGS]:
    """
    @dev At least k signatures of distinct validators over Endorsement(slot, order_root, result_root);
         any invalid, high-s, duplicate or non-validator signature reverts.
    """
    assert len(signatures) >= staticcall self.registry.threshold(), "slots: too few endorsements"
    digest: bytes32 = self._digest(slot, order_root, result_root)
    signers: DynArray[address, MAX_SIGS] = []
    for sig: Bytes[65] in signatures:
        assert len(sig) == 65, "slots: bad signature length"
        r: uint256 = extract32(sig, 0, output_type=uint256)
        sv: uint256 = extract32(sig, 32, output_type=uint256)
        v: uint256 = convert(slice(sig, 64, 1), uint256)
        assert v == 27 or v == 28, "slots: bad signature v"
        assert sv <= SECP256K1N_HALF, "slots: high-s signature"
        signer: address = ecrecover(digest, v, r, sv)
        assert signer != empty(address), "slots: invalid signature"
        assert staticcall self.registry.is_validator(signer), "slots: signer not a validator"
        assert signer not in signers, "slots: duplicate signer"
        signers.append(signer)
    return signers


@internal
@view
def _settleable(s: Slot):
    """
    @dev A CLEARED slot may settle (or be claimed) once its dispute window is over or a dispute resolved.
         The window is the slot's own dispute_until, fixed at submit_result: set_dispute_window later
         changes neither its end nor whether it is open.
    """
    assert s.state == CLEARED, "slots: slot not CLEARED"
    assert s.resolved or block.number > s.dispute_until, "slots: dispute window open"


@internal
@view
def _settleable_slot(slot: uint256):
    """
    @dev _settleable of the stored slot, reading only the three fields it needs.
    """
    assert self.slots[slot].state == CLEARED, "slots: slot not CLEARED"
    if not self.slots[slot].resolved:
        assert block.number > self.slots[slot].dispute_until, "slots: dispute window open"


@external
def submit_result(slot: uint256, result_root: bytes32, signatures: DynArray[Bytes[65], MAX_SIGS]):
    """
    @notice RESERVE_NOT_MET -> CLEARED. A validator (the miner: first valid solver) submits the result
            root with at least k signatures by distinct validators (65 bytes r || s || v, v in {27, 28},
            low s). Any invalid, duplicate or non-validator signature rejects the whole call.
    """
    self._submit(slot, result_root, signatures)


@internal
def _submit(slot: uint256, result_root: bytes32, signatures: DynArray[Bytes[65], MAX_SIGS]) -> uint256:
    """
    @dev submit_result's checks and effects; returns the slot's dispute window (blocks).
    """
    assert self.slots[slot].state == RESERVE_NOT_MET, "slots: slot not RESERVE_NOT_MET"
    assert staticcall self.registry.is_validator(msg.sender), "slots: miner not a validator"
    assert result_root != empty(bytes32), "slots: empty result root"
    count: uint256 = len(self._endorsers(slot, self.slots[slot].order_root, result_root, signatures))
    window: uint256 = self.dispute_blocks
    self.slots[slot].state = CLEARED
    self.slots[slot].result_root = result_root
    self.slots[slot].miner = msg.sender
    self.slots[slot].cleared_block = block.number
    self.slots[slot].dispute_until = block.number + window
    log ResultEndorsed(slot=slot, result_root=result_root, miner=msg.sender, endorsements=count)
    return window


@external
@nonreentrant
def submit_and_settle(slot: uint256, signatures: DynArray[Bytes[65], MAX_SIGS], rows: DynArray[Row, MAX_ROWS]):
    """
    @notice RESERVE_NOT_MET -> SETTLED for a batch-mode slot without a dispute window, in one transaction by
            the miner: submit_result with the root the rows rebuild (and the k signatures over it), then
            settle_batch with those rows. The same checks, state and events (ResultEndorsed, SlotSettled,
            the Transfers) as the two calls; refused while a dispute window is set (the slot must then wait
            for it: submit_result, then settle_batch).
    """
    self._settle(slot, rows, signatures, True)


@external
@nonreentrant
def settle_batch(slot: uint256, rows: DynArray[Row, MAX_ROWS]):
    """
    @notice CLEARED -> SETTLED for a batch-mode slot: all leaves, sorted by leaf hash ascending, must
            rebuild the endorsed result root and balance (credits + rewards == debits).
    @dev One pass over the rows (leaf, order, sums, moves), then the tree's inner nodes in place
         (StandardMerkleTree's heap: node k's children are 2k+1 and 2k+2, row i is node 2n-2-i). Only the
         slot fields it needs are read.
    """
    self._settle(slot, rows, [], False)


@internal
def _settle(slot: uint256, rows: DynArray[Row, MAX_ROWS], signatures: DynArray[Bytes[65], MAX_SIGS],
            submit: bool):
    """
    @dev settle_batch (submit False: the rows must rebuild the endorsed root) and submit_and_settle (submit
         True: the root the rows rebuild is submitted with `signatures` first).
    """
    if submit:  # _submit checks it again once the root is known; this keeps submit_result's first message
        assert self.slots[slot].state == RESERVE_NOT_MET, "slots: slot not RESERVE_NOT_MET"
    else:
        self._settleable_slot(slot)
    assert self.slots[slot].mode == MODE_BATCH, "slots: not a batch slot"
    n: uint256 = len(rows)
    assert n > 0, "slots: no rows"
    tree: bytes32[MAX_TREE] = empty(bytes32[MAX_TREE])
    last: uint256 = unsafe_sub(unsafe_add(n, n), 2)  # n <= MAX_ROWS: no overflow, n > 0: no underflow
    debits: uint256 = 0
    credits: uint256 = 0
    exchange: uint256 = 0
    previous: uint256 = 0
    fund: address = empty(address)  # the fund account, read at the first FUND_LEAF row
    fund_rows: bool = False
    # every row's move in row order, then the rewards: one EnergyToken.move_words call
    moves: DynArray[uint256, MAX_TREE] = []
    for i: uint256 in range(n, bound=MAX_ROWS):
        row: Row = rows[i]
        account: address = row.account
        amount: int256 = row.amount_micro
        leaf: bytes32 = keccak256(keccak256(abi_encode(slot, account, row.energy_wh, amount)))
        assert i == 0 or convert(leaf, uint256) > previous, "slots: rows not sorted by leaf hash"
        previous = convert(leaf, uint256)
        tree[unsafe_sub(last, i)] = leaf
        if account == ME_LEAF:
            assert amount >= 0 and row.energy_wh == 0, "slots: bad market exchange row"
            exchange = convert(amount, uint256)
            continue
        if amount == 0:
            continue
        if account == FUND_LEAF:
            if not fund_rows:
                fund = self.fund
                fund_rows = True
            account = fund  # empty when no fund is set: refused below, once the rows are known to be endorsed
        value: uint256 = 0
        if amount < 0:
            value = convert(-amount, uint256)
            debits += value
        else:
            value = convert(amount, uint256)
            credits += value
        assert value <= MAX_MOVE_AMOUNT, "slots: amount too large"
        word: uint256 = convert(account, uint256) | (value << 160)
        if amount < 0:
            word |= DEBIT_BIT
        moves.append(word)
    for j: uint256 in range(n - 1, bound=MAX_ROWS):
        k: uint256 = unsafe_sub(unsafe_sub(n, 2), j)  # n - 2 down to 0
        left: bytes32 = tree[unsafe_add(unsafe_add(k, k), 1)]
        right: bytes32 = tree[unsafe_add(unsafe_add(k, k), 2)]
        if convert(left, uint256) < convert(right, uint256):
            tree[k] = keccak256(concat(left, right))
        else:
            tree[k] = keccak256(concat(right, left))
    if submit:
        assert self._submit(slot, tree[0], signatures) == 0, "slots: dispute window set (submit, then settle)"
    else:
        assert tree[0] == self.slots[slot].result_root, "slots: rows do not match the result root"
    reward_a: uint256 = 0
    reward_m: uint256 = 0
    if exchange > 0:
        reward_a = exchange * self.slots[slot].auctioneer_ppm // PPM
        reward_m = exchange * self.slots[slot].miner_ppm // PPM
    assert credits + reward_a + reward_m == debits, "slots: settlement does not balance"
    self.slots[slot].state = SETTLED
    if fund_rows:
        assert fund != empty(address), "slots: no fund account"
    if reward_a > 0:
        moves.append(self._move(self.slots[slot].auctioneer, reward_a))
    if reward_m > 0:
        moves.append(self._move(self.slots[slot].miner, reward_m))
    extcall self.token.move_words(moves)
    log SlotSettled(slot=slot, debits=debits, credits=credits, auctioneer_reward=reward_a,
                    miner_reward=reward_m)


@external
@nonreentrant
def claim(slot: uint256, account: address, energy_wh: int256, amount_micro: int256,
          proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Settle one account's leaf of an endorsed claims-mode slot, once, with its Merkle proof.
    """
    s: Slot = self.slots[slot]
    self._settleable(s)
    assert s.mode == MODE_CLAIMS, "slots: not a claims slot"
    assert not self.claimed[slot][account], "slots: already claimed"
    node: bytes32 = self._leaf(slot, account, energy_wh, amount_micro)
    for p: bytes32 in proof:
        node = self._hash_pair(node, p)
    assert node == s.result_root, "slots: invalid proof"
    self.claimed[slot][account] = True
    self.slots[slot].claims_paid = s.claims_paid + 1
    # the miner's reward leaf names MINER_LEAF (the miner is unknown when the root is endorsed)
    payee: address = account
    if account == MINER_LEAF:
        payee = s.miner
    if account == ME_LEAF:  # the reward base: informational, moves nothing
        log Claimed(slot=slot, account=account, energy_wh=energy_wh, amount_micro=amount_micro)
        return
    held: uint256 = self.escrow[slot][account]
    self.escrow[slot][account] = 0
    if account == FUND_LEAF and amount_micro < 0:  # the fund pays its deficit into the pool directly
        payee = self._payee(account)
        assert extcall self.token.transferFrom(payee, self, convert(-amount_micro, uint256))
        held = convert(-amount_micro, uint256)
    elif account == FUND_LEAF:
        payee = self._payee(account)
    pay: uint256 = 0
    if amount_micro < 0:
        debit: uint256 = convert(-amount_micro, uint256)
        assert held >= debit, "slots: escrow below debit"
        self.slots[slot].pool = s.pool + debit
        pay = held - debit
    else:
        credit: uint256 = convert(amount_micro, uint256)
        assert s.pool >= credit, "slots: pool below credit (claim debits first)"
        self.slots[slot].pool = s.pool - credit
        pay = held + credit
    if pay > 0:
        assert extcall self.token.transfer(payee, pay)
    log Claimed(slot=slot, account=account, energy_wh=energy_wh, amount_micro=amount_micro)


@external
def cancel_slot(slot: uint256):
    """
    @notice FOR_SALE or RESERVE_NOT_MET -> CANCELLED (admins only): a slot that cannot be endorsed; and
            DISPUTED -> CANCELLED: the consortium rejects a disputed result (escrow is then withdrawable).
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "slots: not admin"
    state: uint256 = self.slots[slot].state
    assert state == FOR_SALE or state == RESERVE_NOT_MET or state == DISPUTED, \
        "slots: only an open, unendorsed or disputed slot"
    assert self.slots[slot].claims_paid == 0, "slots: claims already paid"
    self.slots[slot].state = CANCELLED
    if state == DISPUTED:
        log DisputeResolved(slot=slot, result_root=empty(bytes32), cancelled=True)
    log SlotCancelled(slot=slot)


@external
def set_dispute_window(blocks: uint256):
    """
    @notice Number of blocks after submit_result during which a validator may dispute the result and
            the slot cannot settle (admins only; 0, the default, disables disputes). Applies to results
            submitted from now on: each slot keeps the window end (dispute_until) fixed when its result
            was submitted.
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "slots: not admin"
    self.dispute_blocks = blocks


@external
def dispute(slot: uint256):
    """
    @notice CLEARED -> DISPUTED: any registered validator contests an endorsed result within the dispute
            window (e.g. it recomputed the slot and got another root). The slot cannot settle or be
            claimed until an admin resolves the dispute.
    """
    s: Slot = self.slots[slot]
    assert s.state == CLEARED, "slots: slot not CLEARED"
    assert staticcall self.registry.is_validator(msg.sender), "slots: not a validator"
    assert not s.resolved, "slots: dispute already resolved"
    assert s.claims_paid == 0, "slots: claims already paid"
    assert block.number <= s.dispute_until, "slots: dispute window closed"
    self.slots[slot].state = DISPUTED
    log Disputed(slot=slot, validator=msg.sender)


@external
def resolve_dispute(slot: uint256, result_root: bytes32, signatures: DynArray[Bytes[65], MAX_SIGS],
                    miner: address):
    """
    @notice DISPUTED -> CLEARED (admins only) with a re-endorsed result root: at least k signatures of
            distinct validators over Endorsement(slot, orderRoot, result_root), as submit_result requires
            (the same root to confirm it, another to correct it). The slot can then settle at once and
            cannot be disputed again. To reject the result instead, cancel_slot.
    @param miner Who earns the miner reward. Confirming the same root keeps the slot's miner and `miner`
           must be empty(address) or that miner. Correcting it makes `miner` the slot's miner: the
           admin-named submitter of the correct root, one of the validators whose signature is in
           `signatures` and not the validator that submitted the wrong root.
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "slots: not admin"
    s: Slot = self.slots[slot]
    assert s.state == DISPUTED, "slots: slot not DISPUTED"
    assert result_root != empty(bytes32), "slots: empty result root"
    signers: DynArray[address, MAX_SIGS] = self._endorsers(slot, s.order_root, result_root, signatures)
    if result_root == s.result_root:
        assert miner == empty(address) or miner == s.miner, "slots: same root keeps its miner"
    else:
        assert miner in signers, "slots: miner did not endorse the correct root"
        assert miner != s.miner, "slots: miner submitted the wrong root"
        self.slots[slot].miner = miner
        log MinerReplaced(slot=slot, previous=s.miner, miner=miner)
    self.slots[slot].state = CLEARED
    self.slots[slot].result_root = result_root
    self.slots[slot].resolved = True
    log DisputeResolved(slot=slot, result_root=result_root, cancelled=False)


@external
def mark_settled_off_contract(slot: uint256, ref: bytes32):
    """
    @notice CLEARED -> SETTLED without moving tokens here (admins only): the slot's endorsed result was
            settled by EnergyToken.settle under `ref` (which the token must have recorded as settled), so
            settle_batch can never move its money a second time. Batch-mode slots only (a claims-mode slot
            holds escrow, which only claims or a cancellation return), after the dispute window, as
            settle_batch would be. The reference stays on the slot (off_chain_ref) for the audit.
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "slots: not admin"
    s: Slot = self.slots[slot]
    self._settleable(s)
    assert s.mode == MODE_BATCH, "slots: not a batch slot"
    assert ref != empty(bytes32), "slots: zero settlement reference"
    assert staticcall self.token.settled(ref), "slots: reference not settled by the token"
    self.slots[slot].state = SETTLED
    self.slots[slot].off_chain_ref = ref
    log SettledOffContract(slot=slot, ref=ref)


@external
@nonreentrant
def withdraw_escrow(slot: uint256):
    """
    @notice Take back the caller's escrow of a cancelled slot.
    """
    assert self.slots[slot].state == CANCELLED, "slots: slot not CANCELLED"
    held: uint256 = self.escrow[slot][msg.sender]
    assert held > 0, "slots: no escrow"
    self.escrow[slot][msg.sender] = 0
    assert extcall self.token.transfer(msg.sender, held)


@external
@view
def slot_state(slot: uint256) -> uint256:
    """
    @notice The lifecycle state of `slot` (CLOSE=0 ... SETTLED=4, CANCELLED=5).
    """
    return self.slots[slot].state
