# pragma version ~=0.4.3
# @license MIT
"""
@title Transactive consortium registry
@notice Members of the energy community with their roles (a bitmask) and feeder bus, and the
        validator set that endorses market results with a k-of-n threshold.
@dev Roles: PROSUMER=1, AGGREGATOR=2, DSO=4, VALIDATOR=8, ADMIN=16, MARKET=32 (a market contract that
     may hold tokens, e.g. MarketSlots escrow). Any non-zero role makes an account a member.
     Only admins change members or the threshold. The validator list keeps insertion order (swap-and-pop
     on removal); MarketSlots rotates the auctioneer over it as validators[slot % n].
     Invariant: 1 <= threshold <= n whenever n > 0 (removing a validator that would break it reverts).
     Each member may have a meter key (seed 004's smart meters): the address whose signature its meter
     readings carry, set by an admin or by the member itself.
"""

ROLE_PROSUMER: public(constant(uint256)) = 1
ROLE_AGGREGATOR: public(constant(uint256)) = 2
ROLE_DSO: public(constant(uint256)) = 4
ROLE_VALIDATOR: public(constant(uint256)) = 8
ROLE_ADMIN: public(constant(uint256)) = 16
ROLE_MARKET: public(constant(uint256)) = 32
ALL_ROLES: constant(uint256) = 63
MAX_VALIDATORS: public(constant(uint256)) = 32
# members per batch call (set_members, buses_of): bounded so a batch stays well under a 30M-gas block
MAX_BATCH: public(constant(uint256)) = 400
ACCOUNT_MASK: constant(uint256) = (1 << 160) - 1

event MemberSet:
    account: indexed(address)
    roles: uint256
    bus: bytes32

event MeterSet:
    account: indexed(address)
    meter: address

event ThresholdSet:
    threshold: uint256
    validators: uint256

roles: public(HashMap[address, uint256])
bus: public(HashMap[address, bytes32])
validators: public(DynArray[address, MAX_VALIDATORS])
threshold: public(uint256)
meter: public(HashMap[address, address])
# every meter key ever registered for an account (old readings stay verifiable after a meter is replaced)
meter_known: public(HashMap[address, HashMap[address, bool]])
# 1 + index in `validators` (0 = not a validator)
_validator_pos: HashMap[address, uint256]


@deploy
def __init__():
    """
    @notice The deployer becomes the first admin.
    """
    self.roles[msg.sender] = ROLE_ADMIN
    log MemberSet(account=msg.sender, roles=ROLE_ADMIN, bus=empty(bytes32))


@internal
@view
def _only_admin():
    assert self.roles[msg.sender] & ROLE_ADMIN != 0, "registry: not admin"


@internal
def _set_member(account: address, roles: uint256, bus: bytes32):
    assert account != empty(address), "registry: zero address"
    assert roles & ~ALL_ROLES == 0, "registry: unknown role bit"
    if account == msg.sender:
        assert roles & ROLE_ADMIN != 0, "registry: admin cannot drop own admin role"
    was_validator: bool = self._validator_pos[account] != 0
    is_validator: bool = roles & ROLE_VALIDATOR != 0
    if is_validator and not was_validator:
        assert len(self.validators) < MAX_VALIDATORS, "registry: too many validators"
        self.validators.append(account)
        self._validator_pos[account] = len(self.validators)
    elif was_validator and not is_validator:
        n: uint256 = len(self.validators)
        assert self.threshold <= n - 1, "registry: lower the threshold first"
        idx: uint256 = self._validator_pos[account] - 1
        last: address = self.validators[n - 1]
        self.validators[idx] = last
        self._validator_pos[last] = idx + 1
        self.validators.pop()
        self._validator_pos[account] = 0
    self.roles[account] = roles
    self.bus[account] = bus
    log MemberSet(account=account, roles=roles, bus=bus)


@external
def set_meter(account: address, meter: address):
    """
    @notice Register (or, with the zero address, remove) the key of a member's meter.
    @dev An admin, or the member itself.
    """
    assert self.roles[msg.sender] & ROLE_ADMIN != 0 or msg.sender == account, "registry: not admin or the member"
    assert self.roles[account] != 0, "registry: not a member"
    self.meter[account] = meter
    self.meter_known[account][meter] = True
    log MeterSet(account=account, meter=meter)


@external
def set_member(account: address, roles: uint256, bus: bytes32):
    """
    @notice Add, update or (with roles = 0) remove a member.
    @param account The member's address (not zero).
    @param roles Bitmask of ROLE_* values.
    @param bus Feeder bus of the member's connection point (e.g. the bus name, right-padded).
    """
    self._only_admin()
    self._set_member(account, roles, bus)


@external
def set_members(accounts: DynArray[address, MAX_BATCH], roles: uint256, buses: DynArray[bytes32, MAX_BATCH]):
    """
    @notice Batch enrolment: set_member(accounts[i], roles, buses[i]) for every i in one transaction
            (the same checks and one MemberSet event each; the whole batch reverts if one entry is invalid).
    @param accounts Up to MAX_BATCH member addresses.
    @param roles The role bitmask given to all of them.
    @param buses Their feeder buses, one per account.
    """
    self._only_admin()
    assert len(accounts) == len(buses), "registry: accounts and buses differ in length"
    for i: uint256 in range(len(accounts), bound=MAX_BATCH):
        self._set_member(accounts[i], roles, buses[i])


@external
def set_threshold(k: uint256):
    """
    @notice Set the number k of distinct validator endorsements a market result needs (1 <= k <= n).
    """
    self._only_admin()
    assert k >= 1 and k <= len(self.validators), "registry: threshold out of range"
    self.threshold = k
    log ThresholdSet(threshold=k, validators=len(self.validators))


@external
@view
def is_member(account: address) -> bool:
    """
    @notice True if the account holds any role.
    """
    return self.roles[account] != 0


@external
@view
def are_members(accounts: DynArray[address, MAX_BATCH]) -> bool:
    """
    @notice True if every account holds a role (one call for a batch instead of one is_member each).
    """
    for a: address in accounts:
        if self.roles[a] == 0:
            return False
    return True


@external
@view
def are_members_packed(first: address, words: DynArray[uint256, MAX_BATCH]) -> bool:
    """
    @notice True if `first` and the account in the low 160 bits of every word hold a role (EnergyToken's
            packed moves: the caller and every moved account in one call).
    """
    if self.roles[first] == 0:
        return False
    for w: uint256 in words:
        if self.roles[convert(convert(w & ACCOUNT_MASK, uint160), address)] == 0:
            return False
    return True


@external
@view
def has_role(account: address, role: uint256) -> bool:
    """
    @notice True if the account holds every bit of `role`.
    """
    return role != 0 and self.roles[account] & role == role


@external
@view
def is_validator(account: address) -> bool:
    """
    @notice True if the account is in the validator set.
    """
    return self._validator_pos[account] != 0


@external
@view
def validator_count() -> uint256:
    """
    @notice n, the size of the validator set.
    """
    return len(self.validators)


@external
@view
def validator_list() -> DynArray[address, MAX_VALIDATORS]:
    """
    @notice The validator set in rotation order.
    """
    return self.validators


@external
@view
def buses_of(accounts: DynArray[address, MAX_BATCH]) -> DynArray[bytes32, MAX_BATCH]:
    """
    @notice Bulk read: the feeder bus of each account, in order (empty for a non-member).
    """
    out: DynArray[bytes32, MAX_BATCH] = []
    for a: address in accounts:
        out.append(self.bus[a])
    return out
