"""Replay protection: a store of used ``(trader, nonce)`` pairs.

An order is accepted at most once per ``(trader, nonce)`` within one EIP-712 domain (one market-slots
contract on one chain: the domain is part of the signed digest, so an order cannot be replayed to another
chain or contract at all). Nonces are *unordered*: any unused value is fine, so a participant with several
blocks signs several orders with distinct nonces, in any order. Use one store per domain.

Example:
    >>> store = InMemoryNonceStore()
    >>> store.use("0x" + "ab" * 20, 7)
    >>> store.is_used("0x" + "AB" * 20, 7)
    True
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from transactive.crypto.encoding import parse_address


class ReplayError(ValueError):
    """The ``(trader, nonce)`` pair was already used."""


@runtime_checkable
class NonceStore(Protocol):
    """Where used nonces are remembered (in memory, SQL, ...). Addresses are hex strings, any case."""

    def is_used(self, trader: str, nonce: int) -> bool:
        """Has ``(trader, nonce)`` been used?"""
        ...

    def use(self, trader: str, nonce: int) -> None:
        """Mark ``(trader, nonce)`` used; raise :class:`ReplayError` if it already was (atomically)."""
        ...


class InMemoryNonceStore:
    """A :class:`NonceStore` in a Python set (tests, demos, a single process; thread-safe)."""

    def __init__(self) -> None:
        self._used: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key(trader: str, nonce: int) -> tuple[str, int]:
        lower = trader.lower()
        if len(lower) != 42 or not lower.startswith("0x"):
            parse_address(trader)  # raises with the reason
        return (lower, nonce)

    def is_used(self, trader: str, nonce: int) -> bool:
        return self._key(trader, nonce) in self._used

    def use(self, trader: str, nonce: int) -> None:
        key = self._key(trader, nonce)
        with self._lock:
            if key in self._used:
                raise ReplayError(f"nonce {nonce} of {trader} was already used")
            self._used.add(key)

    def __len__(self) -> int:
        return len(self._used)
