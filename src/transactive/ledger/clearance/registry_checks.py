"""What the Registry -- as it was at a slot's block -- must confirm before a validator endorses a settlement slot,
and what ``transactive ledger verify`` checks again: the meters and the correction approvers its input names.

The seeds are silent on which block; our choice (``docs/ledger.md``, "The Registry at the slot's block"):

* a **validator** reads the Registry at the head when it recomputes, i.e. right after the slot's order root
  (the settlement input's digest) was committed and before the result is submitted;
* the **audit** reads it at the slot's ``cleared_block`` (the state after the block whose ``submit_result``
  accepted the endorsements, the block it reads the validator set at): the same state as the validators' unless
  the Registry changed between their check and the submission (then the audit reports the difference).

A settlement input (:class:`~transactive.settlement.input.SettlementInput`, format 3):

* every member of ``meters`` -- whose signed reading the recomputation checks against that address
  (:func:`transactive.settlement.meter_readings.check_input_readings`) -- must have exactly that meter key
  registered for its account (``Registry.meter``) at the block: a key the Registry never had, or one replaced
  before the block (e.g. a compromised meter), is refused (``meters[<member>]``);
* every correction's approvers must hold the Registry's admin and DSO roles at the block
  (``corrections[<member>].signatures.<role>``).

Reads are memoised per ``(function, arguments, block)`` in a :class:`RegistryReader` that in-process validators
may share (they read one node at one block: the answers are the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from transactive.crypto.encoding import EncodingError, checksum
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.chain.constants import ROLE_ADMIN, ROLE_DSO, SLOT_FIELDS
from transactive.settlement.input import InputError, SettlementInput
from transactive.settlement.metering import SettlementError
from transactive.settlement.sequence import settlement_postings

if TYPE_CHECKING:
    from transactive.crypto.eip712 import Domain
    from transactive.settlement.slot_settlement import AccountPosting

__all__ = ["RegistryReader", "audit_input_registry", "input_registry_problem", "validator_postings"]

Finding = tuple[str, str, str]
"""``(what, expected, found)``, as the audit reports it."""
_APPROVER_ROLES = (("admin", ROLE_ADMIN), ("dso", ROLE_DSO))


class RegistryReader:
    """Read-only calls to the Registry at one ``block`` (None: the head), memoised."""

    def __init__(self, chain: Chain, registry: Contract, block: int | None) -> None:
        self.chain, self.registry, self.block = chain, registry, block
        self._memo: dict[tuple[Any, ...], Any] = {}

    def call(self, fn: str, *args: Any) -> Any:
        key = (fn, *args)
        if key not in self._memo:
            self._memo[key] = self.chain.call(self.registry, fn, *args, block=self.block)
        return self._memo[key]

    @property
    def where(self) -> str:
        return "at the head" if self.block is None else f"at block {self.block}"


def _same_address(a: Any, b: Any) -> bool:
    try:
        return checksum(str(a)) == checksum(str(b))
    except EncodingError:
        return False


def input_registry_problem(reader: RegistryReader, doc: SettlementInput) -> Finding | None:
    """The first thing the Registry at ``reader``'s block contradicts in a settlement input's meters and
    correction approvers (see the module docstring), or None."""
    for member, meter in sorted((doc.meters or {}).items()):
        account = doc.accounts.get(member)
        if account is None:
            return (f"meters[{member}]", "a party of the input with a chain account", "no account")
        registered = reader.call("meter", account)
        if not _same_address(registered, meter):
            return (f"meters[{member}]", f"the meter key registered for {account} in the Registry {reader.where} "
                    f"({registered})", str(meter))
    for correction in doc.corrections or ():
        for role, bit in _APPROVER_ROLES:
            signer = (correction.signatures.get(role) or {}).get("address")
            try:
                address: str | None = checksum(str(signer))
            except EncodingError:
                address = None
            if address is None or not reader.call("has_role", address, bit):
                return (f"corrections[{correction.member}].signatures.{role}",
                        f"a signer with the Registry's {role} role {reader.where}", str(signer))
    return None


def validator_postings(reader: RegistryReader, doc: SettlementInput | Mapping[str, Any], domain: Domain
                       ) -> list[AccountPosting]:
    """A validator's recomputation of a settlement input: the Registry check at ``reader``'s block
    (:func:`input_registry_problem`; a :class:`~transactive.settlement.metering.SettlementError` naming the entry,
    and the validator does not endorse), then the postings of
    :func:`transactive.settlement.sequence.settlement_postings` (which check the readings' signatures)."""
    typed: SettlementInput | None = doc if isinstance(doc, SettlementInput) else None
    if typed is None:
        try:
            typed = SettlementInput.from_json(doc)
        except (InputError, ValueError, TypeError, KeyError):
            typed = None  # the recomputation below names what is malformed
    if typed is not None:
        problem = input_registry_problem(reader, typed)
        if problem is not None:
            what, expected, found = problem
            raise SettlementError(what, f"expected {expected}, found {found}")
    return settlement_postings(doc, domain)


def audit_input_registry(chain: Chain, registry: Contract, slots: Contract, slot: int,
                         input_doc: SettlementInput | Mapping[str, Any]) -> Finding | None:
    """The audit's :func:`input_registry_problem` for an archived settlement slot (its input typed or as stored:
    the explorer's ``verify`` passes the stored JSON), the Registry read at the slot's ``cleared_block`` (the
    head for a slot not endorsed); nothing is read for an input without meters or corrections, nor for one that
    does not parse (the recomputation names what is malformed)."""
    try:
        doc = SettlementInput.of(input_doc)
    except (InputError, ValueError, TypeError, KeyError):
        return None
    if not doc.meters and not doc.corrections:
        return None
    cleared = int(chain.call(slots, "slots", slot)[SLOT_FIELDS.index("cleared_block")])
    return input_registry_problem(RegistryReader(chain, registry, cleared if cleared > 0 else None), doc)
