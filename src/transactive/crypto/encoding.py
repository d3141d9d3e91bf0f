"""Byte-level helpers: Keccak-256, hex, 20-byte addresses (EIP-55 checksums), 32-byte ABI words.

Keccak-256 is the original Keccak (Ethereum's), not NIST SHA3-256. The C implementation of
``safe-pysha3`` is used when installed (about 6x faster per call), else pycryptodome's.

Example:
    >>> keccak256(b"").hex()[:16]
    'c5d2460186f7233c'
    >>> to_checksum_address(bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"))
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from Crypto.Hash import keccak as _pycryptodome_keccak

try:
    from sha3 import keccak_256 as _pysha3_keccak_256
except ImportError:  # pragma: no cover - depends on the environment
    _pysha3_keccak_256 = None


def _keccak_pycryptodome(data: bytes) -> bytes:
    return _pycryptodome_keccak.new(digest_bits=256, data=data).digest()


def _keccak_pysha3(data: bytes) -> bytes:
    digest: bytes = _pysha3_keccak_256(data).digest()
    return digest


keccak256: Callable[[bytes], bytes] = _keccak_pycryptodome if _pysha3_keccak_256 is None else _keccak_pysha3
"""Keccak-256 digest (32 bytes) of ``data``."""

UINT256_MAX = (1 << 256) - 1
INT256_MIN = -(1 << 255)
INT256_MAX = (1 << 255) - 1
ZERO32 = bytes(32)


class EncodingError(ValueError):
    """A value that cannot be encoded (wrong length, out of range, bad hex or checksum)."""


def hex0x(data: bytes) -> str:
    """``0x``-prefixed lower-case hex."""
    return "0x" + data.hex()


def from_hex(text: str, length: int | None = None, *, what: str = "value") -> bytes:
    """Parse ``0x``-prefixed (or bare) hex; check the byte length when given."""
    if not isinstance(text, str):
        raise EncodingError(f"{what}: expected a hex string, got {type(text).__name__}")
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        data = bytes.fromhex(body)
    except ValueError as exc:
        raise EncodingError(f"{what}: not a hex string: {text!r}") from exc
    if length is not None and len(data) != length:
        raise EncodingError(f"{what}: expected {length} bytes, got {len(data)}")
    return data


def fixed_bytes(value: object, length: int, what: str) -> bytes:
    """``value`` (``bytes`` or ``bytearray``) as ``length`` immutable bytes; :class:`EncodingError` naming
    ``what`` for any other type (a list of ints, a str, None) or length: the check of every fixed-layout word."""
    if type(value) is bytes and len(value) == length:
        return value
    if not isinstance(value, bytes | bytearray):
        raise EncodingError(f"{what}: expected {length} bytes, got {type(value).__name__}")
    if len(value) != length:
        raise EncodingError(f"{what}: expected {length} bytes, got {len(value)}")
    return bytes(value)


def to_checksum_address(address: bytes) -> str:
    """EIP-55 mixed-case checksum form of a 20-byte address (memoised: a slot's accounts recur in every step)."""
    return _checksum(fixed_bytes(address, 20, "address"))


@functools.lru_cache(maxsize=1 << 17)
def _checksum(address: bytes) -> str:
    lower = address.hex().encode("ascii")
    nibbles = keccak256(lower).hex()[:40].encode("ascii")
    # upper-case a letter where the hash nibble is >= 8: the 0x20 case bit of each byte where both the hash
    # nibble is '8'-'f' and the address character a letter 'a'-'f', cleared in one integer operation
    case_bits = int.from_bytes(nibbles.translate(_HIGH_NIBBLE), "big") & int.from_bytes(lower.translate(_LETTER), "big")
    return "0x" + (int.from_bytes(lower, "big") ^ case_bits).to_bytes(40, "big").decode("ascii")


_HIGH_NIBBLE = bytes(0x20 if chr(b) in "89abcdef" else 0 for b in range(256))
_LETTER = bytes(0x20 if chr(b) in "abcdef" else 0 for b in range(256))


def parse_address(text: str) -> bytes:
    """A 20-byte address from hex; a mixed-case string must carry a valid EIP-55 checksum (memoised: a slot's
    traders recur in every message)."""
    if not isinstance(text, str):
        raise EncodingError(f"address: expected a hex string, got {type(text).__name__}")
    return _parse_address(text)


@functools.lru_cache(maxsize=1 << 17)
def _parse_address(text: str) -> bytes:
    return _canonical(text)[1]


def _canonical(text: str) -> tuple[str, bytes]:
    """The one address rule: ``(EIP-55 form, 20 bytes)`` of a hex string, whose mixed case (if any) must be
    the EIP-55 checksum."""
    raw = from_hex(text, 20, what="address")
    form = _checksum(raw)
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if body != form[2:] and body != body.lower() and body != body.upper():
        raise EncodingError(f"address: bad EIP-55 checksum: {text!r}")
    return form, raw


def checksum(text: str) -> str:
    """Normalise an address string to its EIP-55 checksum form."""
    return to_checksum_address(parse_address(text))


@functools.lru_cache(maxsize=1 << 17)
def canonical_address(text: str) -> tuple[str, bytes]:
    """``(EIP-55 form, 20 bytes)`` of an address string, as :func:`parse_address` and
    :func:`to_checksum_address` give them (the same errors), memoised by the string: a slot's accounts recur in
    its entries, their leaves and its settlement."""
    if not isinstance(text, str):
        raise EncodingError(f"address: expected a hex string, got {type(text).__name__}")
    return _canonical(text)


def uint256_word(value: int, bits: int = 256, *, what: str = "value") -> bytes:
    """ABI word of an unsigned integer that must fit in ``bits`` bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodingError(f"{what}: expected an integer, got {type(value).__name__}")
    if value < 0 or value >> bits:
        raise EncodingError(f"{what}: {value} is outside uint{bits}")
    return value.to_bytes(32, "big")


def int256_word(value: int, bits: int = 256, *, what: str = "value") -> bytes:
    """ABI word (two's complement) of a signed integer that must fit in ``bits`` bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodingError(f"{what}: expected an integer, got {type(value).__name__}")
    bound = 1 << (bits - 1)
    if not -bound <= value < bound:
        raise EncodingError(f"{what}: {value} is outside int{bits}")
    return value.to_bytes(32, "big", signed=True)


def address_word(address: bytes) -> bytes:
    """ABI word of a 20-byte address (left-padded with zeros)."""
    return b"\x00" * 12 + fixed_bytes(address, 20, "address")
