"""What every SQL mixin of :class:`~transactive.store.sql.SqlStore` uses and the store itself provides."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class SqlPlumbing:
    """The store's connections and inserts, declared once for its mixins (``SqlStore`` defines them)."""

    def _write(self) -> AbstractContextManager[Connection]:  # pragma: no cover - provided by SqlStore
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - provided by SqlStore
        raise NotImplementedError

    def _insert_ignore(self, conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
        raise NotImplementedError  # pragma: no cover - provided by SqlStore

    def _ignoring_insert(self, table: sa.Table) -> Any:  # pragma: no cover - provided by SqlStore
        raise NotImplementedError
