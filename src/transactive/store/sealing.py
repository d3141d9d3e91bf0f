"""Custodial private keys encrypted at rest (AES-256-GCM, an AEAD), with a key-encryption key kept outside the
data directory.

A sealed key is the text ``aes256gcm:`` + base64url(``nonce`` (12 random bytes) ‖ ciphertext ‖ tag (16
bytes)); the associated data binds it to its member (``transactive custodial key\\0<member>``), so a sealed key
copied onto another member's row does not open. The key-encryption key (KEK, 32 bytes, 64 hex digits or
base64) comes from, in this order:

1. ``$TRANSACTIVE_KEY_ENCRYPTION_KEY`` (the key itself);
2. ``$TRANSACTIVE_KEY_ENCRYPTION_KEY_FILE`` (a file holding it; ``transactive serve --key-encryption-key-file``
   sets this; the file must exist);
3. the default file ``$XDG_CONFIG_HOME/transactive/key-encryption.key`` (``~/.config/...``), created (mode
   0600, folder 0700) the first time a key is sealed and none is configured -- never inside the data
   directory, so a copy of the data directory or of a database backup carries no usable key.

A missing KEK where sealed keys must be opened, and a KEK that does not open them (the GCM tag does not
verify), are :class:`KeySealError` naming ``TRANSACTIVE_KEY_ENCRYPTION_KEY`` (the CLI exits 2 with it).

Example:
    >>> sealer = KeySealer(bytes(range(32)), "example")
    >>> sealed = sealer.seal("alice", b"\\x01" * 32)
    >>> sealed.startswith(SEALED_PREFIX) and "01" * 32 not in sealed
    True
    >>> sealer.open("alice", sealed) == b"\\x01" * 32
    True
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from transactive.errors import FieldError

__all__ = ["ENV_KEY", "ENV_KEY_FILE", "SEALED_PREFIX", "KeySealError", "KeySealer", "default_key_path",
           "is_sealed", "load_sealer"]

log = logging.getLogger(__name__)

ENV_KEY = "TRANSACTIVE_KEY_ENCRYPTION_KEY"
ENV_KEY_FILE = "TRANSACTIVE_KEY_ENCRYPTION_KEY_FILE"
SEALED_PREFIX = "aes256gcm:"
NONCE_BYTES = 12
TAG_BYTES = 16
KEK_BYTES = 32
_AAD = b"transactive custodial key\x00"


class KeySealError(FieldError):
    """The key-encryption key is missing, malformed or wrong; ``field`` names where it comes from."""


def is_sealed(text: str | None) -> bool:
    """Whether a stored key is sealed (else it is a plaintext hex key of an older store, or None)."""
    return text is not None and text.startswith(SEALED_PREFIX)


class KeySealer:
    """Seals and opens members' custodial keys with one KEK; ``source`` says where the KEK came from (for errors)."""

    def __init__(self, kek: bytes, source: str) -> None:
        if len(kek) != KEK_BYTES:
            raise KeySealError(ENV_KEY, f"must be {KEK_BYTES} bytes (64 hex digits or base64), got {len(kek)}")
        self._aead = AESGCM(bytes(kek))
        self.source = source

    def seal(self, member: str, secret: bytes) -> str:
        """``secret`` encrypted for ``member`` (a fresh random nonce each time)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret, _AAD + member.encode("utf-8"))  # ciphertext ‖ tag
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, member: str, sealed: str) -> bytes:
        """The secret ``seal(member, ...)`` returned; :class:`KeySealError` when this KEK does not open it."""
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX).encode("ascii"))
        except (binascii.Error, ValueError):
            raise KeySealError("chain_accounts.private_key", f"the sealed key of {member!r} is corrupt") from None
        if len(raw) <= NONCE_BYTES + TAG_BYTES:
            raise KeySealError("chain_accounts.private_key", f"the sealed key of {member!r} is truncated")
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _AAD + member.encode("utf-8"))
        except InvalidTag:  # the tag does not verify: another KEK (or a tampered row)
            raise KeySealError(ENV_KEY, f"the key-encryption key from {self.source} does not open the custodial "
                               f"key of {member!r}: it was sealed with another key (give that one)") from None


def default_key_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/transactive/key-encryption.key`` (default ``~/.config/transactive/...``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "transactive" / "key-encryption.key"


def _parse_kek(text: str, field: str) -> bytes:
    value = text.strip()
    try:
        raw = bytes.fromhex(value.removeprefix("0x")) if len(value.removeprefix("0x")) == 2 * KEK_BYTES \
            else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise KeySealError(field, f"must be {KEK_BYTES} bytes as 64 hex digits or base64") from None
    if len(raw) != KEK_BYTES:
        raise KeySealError(field, f"must be {KEK_BYTES} bytes as 64 hex digits or base64, got {len(raw)} bytes")
    return raw


def _create_key_file(path: Path) -> None:
    from transactive.files import private_dir

    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_bytes(KEK_BYTES).hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.warning("created the key-encryption key %s for the custodial keys: back it up (without it they are "
                "lost) or set $%s", path, ENV_KEY)


def load_sealer(*, create: bool, environ: Mapping[str, str] | None = None) -> KeySealer:
    """The KEK from the environment, its file, or the default file (see the module docstring). ``create``:
    make the default file when nothing is configured (only when sealing; opening never invents a key)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_KEY):
        return KeySealer(_parse_kek(env[ENV_KEY], ENV_KEY), f"${ENV_KEY}")
    if env.get(ENV_KEY_FILE):
        path = Path(env[ENV_KEY_FILE])
        field = ENV_KEY_FILE
    else:
        path = default_key_path(env)
        field = ENV_KEY
        if create and not path.exists():
            _create_key_file(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeySealError(field, f"no key-encryption key: {path} does not exist; the custodial keys are stored "
                           f"encrypted and cannot be opened without it (set ${ENV_KEY} or ${ENV_KEY_FILE})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeySealError(field, f"cannot read the key-encryption key {path}: {exc}") from None
    return KeySealer(_parse_kek(text, field), str(path))
