# pragma version ~=0.4.3
# @license MIT
"""
@title Transactive energy token (ERC-20)
@notice The seeds' "tokens": the community's unit of account. 6 decimals, so one base unit is one
        micro-token, the unit every settlement amount on chain is expressed in.
@dev Standard ERC-20 with two restrictions: both ends of a transfer must be consortium members (checked
     in the Registry on every transfer, so revoking a member freezes its balance), and only Registry admins
     mint or burn. transferFrom follows ERC-20: the spender needs an allowance; an allowance of
     max_value(uint256) is not decreased (infinite approval).
     settle() lets an admin (the consortium operator) post a balanced batch of signed amounts in one
     transaction, e.g. a market slot's off-chain statement; it creates no power an admin lacks (admins
     already mint and burn), and every posting is logged as an ordinary Transfer through this contract.
"""

from ethereum.ercs import IERC20

implements: IERC20

# accounts per batch call (mint_batch, permit_batch): the Registry's MAX_BATCH
MAX_BATCH: public(constant(uint256)) = 400

interface IRegistry:
    def is_member(account: address) -> bool: view
    def are_members(accounts: DynArray[address, MAX_BATCH]) -> bool: view
    def are_members_packed(first: address, words: DynArray[uint256, MAX_BATCH]) -> bool: view
    def has_role(account: address, role: uint256) -> bool: view

ROLE_ADMIN: constant(uint256) = 16
MAX_POSTINGS: public(constant(uint256)) = 256
# the tag of a permit digest: keccak256(abi_encode(PERMIT_TAG, token, chain id, owner, spender, amount, nonce))
PERMIT_TAG: public(constant(bytes32)) = keccak256("Transactive EnergyToken permit")

# moves per side of move_batch (1 + 2 * MAX_MOVES accounts fit one Registry.are_members_packed call)
MAX_MOVES: public(constant(uint256)) = 192
# moves of one move_words call, each a packed word: account | amount << 160 | DEBIT_BIT for a debit
MAX_WORDS: public(constant(uint256)) = 2 * MAX_MOVES
DEBIT_BIT: public(constant(uint256)) = 1 << 255
ACCOUNT_MASK: constant(uint256) = (1 << 160) - 1
AMOUNT_MASK: constant(uint256) = (1 << 95) - 1

struct Move:
    account: address
    amount: uint256

struct Permit:
    owner: address
    v: uint256
    r: bytes32
    s: bytes32

struct Posting:
    account: address
    amount_micro: int256

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[8])
decimals: public(constant(uint8)) = 6
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
registry: public(IRegistry)
settled: public(HashMap[bytes32, bool])
# the next permit nonce of each owner (a permit is valid once)
nonces: public(HashMap[address, uint256])

event Settled:
    ref: indexed(bytes32)
    operator: indexed(address)
    postings: uint256
    volume: uint256


@deploy
def __init__(registry: address, name: String[32], symbol: String[8]):
    """
    @param registry The consortium Registry contract.
    """
    assert registry != empty(address), "token: zero registry"
    self.registry = IRegistry(registry)
    self.name = name
    self.symbol = symbol


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert staticcall self.registry.is_member(sender), "token: sender not a member"
    assert staticcall self.registry.is_member(receiver), "token: receiver not a member"
    # checked arithmetic: reverts on insufficient balance
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` micro-tokens from the caller to `receiver` (both members).
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` from `sender` to `receiver` using the caller's allowance.
    """
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def move_batch(debits: DynArray[Move, MAX_MOVES], credits: DynArray[Move, MAX_MOVES]):
    """
    @notice A market contract's settlement in one call: transferFrom(d.account, caller, d.amount) for every
            debit (with the caller's allowance, as transferFrom), then transfer(c.account, c.amount) from the
            caller for every credit: move_words of the debits, then the credits.
    """
    words: DynArray[uint256, MAX_WORDS] = []
    for d: Move in debits:
        words.append(self._word(d.account, d.amount) | DEBIT_BIT)
    for c: Move in credits:
        words.append(self._word(c.account, c.amount))
    self._move_words(words)


@external
def move_words(words: DynArray[uint256, MAX_WORDS]):
    """
    @notice A market contract's settlement in one call, one packed word per move (MarketSlots.settle_batch):
            the account in bits 0-159, the amount (micro-tokens, < 2**95) in bits 160-254, bit 255 set for a
            debit. A debit is transferFrom(account, caller, amount) (with the caller's allowance, as
            transferFrom), a credit transfer(account, amount) from the caller, in the words' order. The caller
            and every account must be members (one Registry.are_members_packed call instead of two is_member
            calls per move); one Transfer event per move, in this order. The caller's own balance is written
            once, by the net of its moves (pulled - paid: the call reverts if the credits exceed what it holds
            plus what it pulls), and the whole call reverts if one move fails (allowance or balance too low).
    """
    self._move_words(words)


@internal
@pure
def _word(account: address, amount: uint256) -> uint256:
    assert amount <= AMOUNT_MASK, "token: amount too large"
    return convert(account, uint256) | (amount << 160)


@internal
def _move_words(words: DynArray[uint256, MAX_WORDS]):
    assert staticcall self.registry.are_members_packed(msg.sender, words), "token: account not a member"
    pulled: uint256 = 0
    paid: uint256 = 0
    for w: uint256 in words:
        account: address = convert(convert(w & ACCOUNT_MASK, uint160), address)
        amount: uint256 = (w >> 160) & AMOUNT_MASK
        if w & DEBIT_BIT != 0:
            allowed: uint256 = self.allowance[account][msg.sender]
            if allowed != max_value(uint256):
                self.allowance[account][msg.sender] = allowed - amount
            self.balanceOf[account] -= amount
            pulled = unsafe_add(pulled, amount)  # at most 384 amounts below 2**95 each
            log Transfer(sender=account, receiver=msg.sender, value=amount)
        else:
            self.balanceOf[account] += amount
            paid = unsafe_add(paid, amount)
            log Transfer(sender=msg.sender, receiver=account, value=amount)
    self.balanceOf[msg.sender] = self.balanceOf[msg.sender] + pulled - paid


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of the caller's tokens.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@internal
def _mint(receiver: address, amount: uint256):
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def mint(receiver: address, amount: uint256):
    """
    @notice Create `amount` micro-tokens for a member (admins only).
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "token: not admin"
    assert staticcall self.registry.is_member(receiver), "token: receiver not a member"
    self._mint(receiver, amount)


@external
def mint_batch(receivers: DynArray[address, MAX_BATCH], amount: uint256):
    """
    @notice Batch enrolment: mint(receiver, amount) for every receiver in one transaction (admins only; every
            receiver a member, checked by one Registry.are_members call).
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "token: not admin"
    assert staticcall self.registry.are_members(receivers), "token: receiver not a member"
    for r: address in receivers:
        self._mint(r, amount)


@external
@view
def permit_digest(owner: address, spender: address, amount: uint256, nonce: uint256) -> bytes32:
    """
    @notice The 32-byte digest an owner signs to approve `spender` for `amount` with its next `nonce`.
    """
    return keccak256(abi_encode(PERMIT_TAG, self, chain.id, owner, spender, amount, nonce))


@external
def permit_batch(spender: address, amount: uint256, permits: DynArray[Permit, MAX_BATCH]):
    """
    @notice Batch approval: each permit is the owner's signature (v, r, s) over
            permit_digest(owner, spender, amount, nonces[owner]); it sets allowance[owner][spender] = amount
            and uses the nonce, as if the owner had sent approve(spender, amount). Anyone may submit a batch
            (the signatures are the owners' consent); the whole batch reverts if one signature is invalid.
    """
    for p: Permit in permits:
        nonce: uint256 = self.nonces[p.owner]
        digest: bytes32 = keccak256(abi_encode(PERMIT_TAG, self, chain.id, p.owner, spender, amount, nonce))
        signer: address = ecrecover(digest, p.v, p.r, p.s)
        assert signer != empty(address) and signer == p.owner, "token: invalid permit signature"
        self.nonces[p.owner] = nonce + 1
        self.allowance[p.owner][spender] = amount
        log Approval(owner=p.owner, spender=spender, value=amount)


@external
def burn(holder: address, amount: uint256):
    """
    @notice Destroy `amount` micro-tokens of `holder` (admins only; e.g. redemption for fiat).
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "token: not admin"
    self.balanceOf[holder] -= amount
    self.totalSupply -= amount
    log Transfer(sender=holder, receiver=empty(address), value=amount)


@external
def settle(ref: bytes32, postings: DynArray[Posting, MAX_POSTINGS]):
    """
    @notice Post a balanced batch of signed amounts (admins only), once per `ref`: amount_micro > 0
            credits the account, < 0 debits it, and the amounts must sum to zero, so no token is created or
            destroyed. Every account must be a member. Credits are applied first, then debits (checked:
            the whole call reverts if any balance would go below zero). Each posting logs a Transfer through
            this contract (credit: token -> account, debit: account -> token; the contract's own balance
            is unchanged), then Settled(ref, operator, count, volume = sum of credits).
    @param ref A non-zero reference of the batch (e.g. the hash of the statement it settles); a reference
           already settled is rejected, so a batch cannot be posted twice.
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_ADMIN), "token: not admin"
    assert ref != empty(bytes32), "token: zero settlement reference"
    assert not self.settled[ref], "token: reference already settled"
    credits: uint256 = 0
    debits: uint256 = 0
    for p: Posting in postings:
        assert staticcall self.registry.is_member(p.account), "token: posting account not a member"
        if p.amount_micro > 0:
            credits += convert(p.amount_micro, uint256)
            self.balanceOf[p.account] += convert(p.amount_micro, uint256)
            log Transfer(sender=self, receiver=p.account, value=convert(p.amount_micro, uint256))
    for p: Posting in postings:
        if p.amount_micro < 0:
            debits += convert(-p.amount_micro, uint256)
            self.balanceOf[p.account] -= convert(-p.amount_micro, uint256)
            log Transfer(sender=p.account, receiver=self, value=convert(-p.amount_micro, uint256))
    assert credits == debits, "token: postings do not sum to zero"
    self.settled[ref] = True
    log Settled(ref=ref, operator=msg.sender, postings=len(postings), volume=credits)
