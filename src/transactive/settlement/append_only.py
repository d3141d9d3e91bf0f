"""An immutable sequence whose extensions share one append-only list: O(1) per appended item.

``AppendOnly`` is what :class:`~transactive.settlement.listings.Board` and
:class:`~transactive.settlement.negawatt.NegawattEvent` keep their listings, orders and offers in. Each value
is a snapshot: its first ``len`` items of a list that is only ever appended to. :meth:`AppendOnly.extended`
appends in place when the snapshot is the newest of its list (the usual case: a board grows one listing at a
time) and copies once otherwise (an older snapshot extended again: a branch), so the older snapshot never
changes. It compares equal to a tuple of the same items (and hashes like one), so callers that read the
field as a tuple keep working. An optional ``key`` keeps a ``key -> position`` index for O(1) membership.

Example:
    >>> a = AppendOnly((1, 2))
    >>> b = a.extended([3])
    >>> c = a.extended([4])  # a branch: copied, ``b`` is unchanged
    >>> a, b, c, b == (1, 2, 3)
    ((1, 2), (1, 2, 3), (1, 2, 4), True)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class _Shared(Generic[T]):
    """The list all snapshots of one lineage share, with the key index (first position of each key)."""

    __slots__ = ("items", "key", "position")

    def __init__(self, key: Callable[[T], Hashable] | None) -> None:
        self.items: list[T] = []
        self.key = key
        self.position: dict[Hashable, int] = {}

    def append(self, item: T) -> None:
        if self.key is not None:
            self.position.setdefault(self.key(item), len(self.items))
        self.items.append(item)


class AppendOnly(Sequence[T]):
    """An immutable snapshot of an append-only list (see the module docstring); a tuple-like ``Sequence``."""

    __slots__ = ("_n", "_shared")

    def __init__(self, items: Iterable[T] = (), key: Callable[[T], Hashable] | None = None) -> None:
        shared: _Shared[T] = _Shared(key)
        for item in items:
            shared.append(item)
        self._shared, self._n = shared, len(shared.items)

    @classmethod
    def _view(cls, shared: _Shared[T], n: int) -> AppendOnly[T]:
        view = cls.__new__(cls)
        view._shared, view._n = shared, n
        return view

    def extended(self, items: Iterable[T]) -> AppendOnly[T]:
        """This sequence followed by ``items`` (O(len(items)) when this is the newest snapshot of its list)."""
        shared = self._shared
        if self._n != len(shared.items):  # a branch off an older snapshot: copy once
            copy: _Shared[T] = _Shared(shared.key)
            for item in islice(shared.items, self._n):
                copy.append(item)
            shared = copy
        for item in items:
            shared.append(item)
        return AppendOnly._view(shared, len(shared.items))

    def has_key(self, key: Hashable) -> bool:
        """Whether an item with this ``key`` is in this snapshot (O(1); needs the ``key`` function)."""
        if self._shared.key is None:
            raise TypeError("an AppendOnly without a key function")
        position = self._shared.position.get(key)
        return position is not None and position < self._n

    def find(self, key: Hashable) -> T | None:
        """The first item with this ``key`` in this snapshot, or None (O(1); needs the ``key`` function)."""
        return self._shared.items[self._shared.position[key]] if self.has_key(key) else None

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return tuple(self._shared.items[:self._n][index])
        i = index + self._n if index < 0 else index
        if not 0 <= i < self._n:
            raise IndexError("AppendOnly index out of range")
        return self._shared.items[i]

    def __iter__(self) -> Iterator[T]:
        return islice(self._shared.items, self._n)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AppendOnly):
            return self._n == other._n and (self._shared is other._shared or tuple(self) == tuple(other))
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as its items (and key function)
        return (AppendOnly, (tuple(self), self._shared.key))
