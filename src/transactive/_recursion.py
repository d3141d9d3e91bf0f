"""Keep the interpreter's recursion limit where it was when a ledger dependency is imported.

py-evm's (``eth``) and py_ecc's package imports call ``sys.setrecursionlimit(100_000)`` (for EVM call depth
1024 and recursive field arithmetic the contracts here never reach). With that limit ``json.loads`` of a
document nested 100,000 deep overflows the C stack and the process dies with SIGSEGV instead of raising
``RecursionError``. :func:`install` (run by ``import transactive``) puts a finder on ``sys.meta_path`` that
restores the limit right after either package's ``__init__`` runs; it imports nothing itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

RAISING_PACKAGES = frozenset({"eth", "py_ecc"})  # top-level packages whose import raises the limit


class _RestoringLoader(importlib.abc.Loader):
    """Delegates to the real loader and sets the recursion limit back to its value before ``exec_module``."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> object:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        limit = sys.getrecursionlimit()
        try:
            self._loader.exec_module(module)
        finally:
            sys.setrecursionlimit(limit)


class _RecursionLimitGuard(importlib.abc.MetaPathFinder):
    """Finds :data:`RAISING_PACKAGES` through the other finders and wraps their loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in RAISING_PACKAGES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RestoringLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Install the guard once (first on ``sys.meta_path``)."""
    if not any(isinstance(finder, _RecursionLimitGuard) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RecursionLimitGuard())
