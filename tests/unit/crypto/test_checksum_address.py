"""EIP-55 checksum addresses against an independent implementation (eth_utils) and the EIP's own examples."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address as eth_utils_checksum
from hypothesis import given
from hypothesis import strategies as st

from transactive.crypto.encoding import EncodingError, canonical_address, parse_address, to_checksum_address

EIP55_EXAMPLES = [  # from the EIP-55 text: all caps, all lower, mixed
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_the_eip55_examples(address: str) -> None:
    assert to_checksum_address(bytes.fromhex(address[2:])) == address
    assert parse_address(address) == bytes.fromhex(address[2:])


@given(st.binary(min_size=20, max_size=20))
def test_checksum_is_eth_utils(raw: bytes) -> None:
    assert to_checksum_address(raw) == eth_utils_checksum(raw)


def test_a_wrong_checksum_is_refused() -> None:
    good = EIP55_EXAMPLES[4]
    with pytest.raises(EncodingError, match="checksum"):
        parse_address(good[:3] + good[3].swapcase() + good[4:])


@given(st.binary(min_size=20, max_size=20), st.sampled_from(["lower", "upper", "checksum"]),
       st.sampled_from(["0x", "0X", ""]))
def test_canonical_address_is_the_checksum_and_the_bytes(raw: bytes, case: str, prefix: str) -> None:
    body = {"lower": raw.hex(), "upper": raw.hex().upper(), "checksum": eth_utils_checksum(raw)[2:]}[case]
    assert canonical_address(prefix + body) == (eth_utils_checksum(raw), raw)


@given(st.binary(min_size=20, max_size=20), st.integers(0, 39))
def test_canonical_address_refuses_one_flipped_letter(raw: bytes, k: int) -> None:
    good = eth_utils_checksum(raw)
    if not good[2 + k].isalpha() or good[2:].lower() == good[2:] or good[2:].upper() == good[2:]:
        return  # a digit has no case; a flipped letter of a one-case address gives another valid form
    bad = good[:2 + k] + good[2 + k].swapcase() + good[3 + k:]
    if bad[2:] in (bad[2:].lower(), bad[2:].upper()):
        return  # flipping the only letter of the other case leaves a one-case (unchecked) address
    with pytest.raises(EncodingError, match="checksum"):
        canonical_address(bad)


@pytest.mark.parametrize(("value", "match"), [(None, "NoneType"), (b"\x01" * 20, "bytes"), ("0x12", "20 bytes"),
                                              ("0x" + "zz" * 20, "not a hex")])
def test_canonical_address_names_what_is_wrong(value: object, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        canonical_address(value)  # type: ignore[arg-type]
