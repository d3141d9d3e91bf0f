"""EIP-55 checksum addresses against an independent implementation (eth_utils) and the EIP's own examples."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address as eth_utils_checksum
from hypothesis import given
from hypothesis import strategies as st

from transactive.crypto.encoding import EncodingError, parse_address, to_checksum_address

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
