"""Validator endorsements of a slot's clearing: EIP-712 ``Endorsement(uint256 slot,bytes32 orderRoot,
bytes32 resultRoot)`` signatures and the k-of-n check the slot contract applies (with ``ecrecover``).

A validator recomputes the clearing from the committed order batch and, if it gets the same result root,
signs the endorsement. :func:`count_endorsements` returns the distinct validators whose signatures are valid;
the result is accepted when at least ``k`` are (signatures from non-validators and duplicates count nothing).

Example:
    >>> from transactive.crypto.signing import Signer
    >>> validators = [Signer(bytes(31) + bytes((i,))) for i in (1, 2, 3)]
    >>> domain = Domain(chain_id=1, verifying_contract="0x" + "42" * 20)
    >>> sigs = [endorse(v, domain, 9, bytes(32), bytes(32)) for v in validators[:2]]
    >>> len(count_endorsements(domain, 9, bytes(32), bytes(32), signatures=sigs,
    ...                        validators=[v.address for v in validators]))
    2
"""

from __future__ import annotations

from collections.abc import Sequence

from transactive.crypto.eip712 import Domain, endorsement_digest
from transactive.crypto.encoding import parse_address, to_checksum_address
from transactive.crypto.signing import SignatureError, Signer, recover_address_bytes

__all__ = ["Domain", "count_endorsements", "endorse", "require_endorsements", "valid_endorsements"]


def endorse(validator: Signer, domain: Domain, slot: int, order_root: bytes, result_root: bytes) -> bytes:
    """The validator's 65-byte signature of ``Endorsement(slot, orderRoot, resultRoot)``."""
    return validator.sign_digest(endorsement_digest(domain, slot, order_root, result_root))


def valid_endorsements(
    domain: Domain,
    slot: int,
    order_root: bytes,
    result_root: bytes,
    *,
    signatures: Sequence[bytes],
    validators: Sequence[str],
) -> list[tuple[str, bytes]]:
    """``(validator, signature)`` for the first valid signature of each distinct validator, in input order.

    These are the signatures to pass to the slot contract, which rejects the whole call on any invalid,
    non-validator or repeated signature.
    """
    allowed = {parse_address(v) for v in validators}
    digest = endorsement_digest(domain, slot, order_root, result_root)
    found: dict[bytes, bytes] = {}
    for signature in signatures:
        try:
            signer = recover_address_bytes(digest, signature)
        except SignatureError:
            continue
        if signer in allowed and signer not in found:
            found[signer] = signature
    return [(to_checksum_address(a), sig) for a, sig in found.items()]


def count_endorsements(
    domain: Domain,
    slot: int,
    order_root: bytes,
    result_root: bytes,
    *,
    signatures: Sequence[bytes],
    validators: Sequence[str],
) -> list[str]:
    """Distinct validators (EIP-55, first-signature order) with a valid endorsement among ``signatures``."""
    pairs = valid_endorsements(
        domain, slot, order_root, result_root, signatures=signatures, validators=validators
    )
    return [validator for validator, _ in pairs]


def require_endorsements(
    domain: Domain,
    slot: int,
    order_root: bytes,
    result_root: bytes,
    *,
    signatures: Sequence[bytes],
    validators: Sequence[str],
    k: int,
) -> list[str]:
    """Like :func:`count_endorsements` but raise ``ValueError`` when fewer than ``k`` validators endorsed."""
    if k < 1:
        raise ValueError("k must be >= 1")
    found = count_endorsements(
        domain, slot, order_root, result_root, signatures=signatures, validators=validators
    )
    if len(found) < k:
        raise ValueError(f"slot {slot}: {len(found)} valid endorsements, {k} required")
    return found
