"""Sealing custodial keys (AES-256-GCM): round trip, no plaintext, bound to the member, tamper-evident, and the
key-encryption key's sources (environment, file, default file created only when sealing) with errors naming it."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transactive.store.sealing import ENV_KEY, ENV_KEY_FILE, SEALED_PREFIX, KeySealer, KeySealError, load_sealer

KEK = bytes(range(32))


@given(member=st.text(min_size=1, max_size=64), secret=st.binary(min_size=32, max_size=32))
def test_round_trip_and_no_plaintext(member: str, secret: bytes) -> None:
    sealer = KeySealer(KEK, "test")
    sealed = sealer.seal(member, secret)
    raw = base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX))
    assert sealed.startswith(SEALED_PREFIX) and len(raw) == 12 + 32 + 16
    assert secret.hex() not in sealed and (len(set(secret)) == 1 or secret not in raw)
    assert sealer.open(member, sealed) == secret
    assert sealer.seal(member, secret) != sealed  # a fresh nonce each time


def test_a_sealed_key_opens_only_for_its_member_under_its_kek_untampered() -> None:
    sealer = KeySealer(KEK, "test")
    sealed = sealer.seal("alice", b"\x05" * 32)
    with pytest.raises(KeySealError, match="custodial key of 'bob'"):
        sealer.open("bob", sealed)  # moved onto another member's row
    with pytest.raises(KeySealError) as wrong:
        KeySealer(bytes(32), "elsewhere").open("alice", sealed)
    assert wrong.value.field == ENV_KEY and "sealed with another key" in wrong.value.message
    raw = bytearray(base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX)))
    raw[20] ^= 1
    with pytest.raises(KeySealError):
        sealer.open("alice", SEALED_PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode())


def test_kek_sources(tmp_path: Path) -> None:
    home = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert load_sealer(create=False, environ={ENV_KEY: "ab" * 32}).open(
        "m", KeySealer(b"\xab" * 32, "x").seal("m", b"k" * 32)) == b"k" * 32
    assert load_sealer(create=False, environ={ENV_KEY: base64.b64encode(KEK).decode()}).source == f"${ENV_KEY}"
    with pytest.raises(KeySealError) as short:
        load_sealer(create=False, environ={ENV_KEY: "ab" * 16})
    assert short.value.field == ENV_KEY and "32 bytes" in short.value.message
    with pytest.raises(KeySealError) as missing_file:
        load_sealer(create=True, environ={ENV_KEY_FILE: str(tmp_path / "nope")})
    assert missing_file.value.field == ENV_KEY_FILE  # a file named explicitly is never invented
    with pytest.raises(KeySealError, match="does not exist"):
        load_sealer(create=False, environ=home)
    sealer = load_sealer(create=True, environ=home)  # the first seal makes the default file, owner-only
    path = tmp_path / "config" / "transactive" / "key-encryption.key"
    assert sealer.source == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    sealed = sealer.seal("m", b"s" * 32)
    assert load_sealer(create=False, environ=home).open("m", sealed) == b"s" * 32  # the same file next time
    assert load_sealer(create=False, environ={ENV_KEY_FILE: str(path)}).open("m", sealed) == b"s" * 32


def test_serve_refuses_a_key_file_inside_the_data_directory(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from transactive.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "kek").write_text("ab" * 32)
    before = os.environ.get(ENV_KEY_FILE)
    assert main(["serve", "--data-dir", str(data), "--key-encryption-key-file", str(data / "kek")]) == 2
    assert "--key-encryption-key-file: must lie outside the data directory" in capsys.readouterr().err
    assert main(["serve", "--data-dir", str(data), "--key-encryption-key-file", str(tmp_path / "none")]) == 2
    assert os.environ.get(ENV_KEY_FILE) == before
