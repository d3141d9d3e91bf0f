"""Leases: who in a fleet of ``transactive serve`` processes on one PostgreSQL does a step of a slot.

On PostgreSQL a lease is a session-level advisory lock (``pg_try_advisory_lock`` / ``pg_advisory_lock``, key =
the first 8 bytes of SHA-256 of the lease's name) held on a connection of its own for as long as the step
runs. PostgreSQL itself releases it when the holder's session ends: a process killed with SIGKILL has its
sockets closed by the kernel, so its backend ends and its leases are free at once for another process, which
resumes the step from the store and the chain (every step is idempotent and resumable, see
``docs/deployment.md``). A host that vanishes without closing its sockets holds its leases until the server's
TCP keepalive gives up on it (``tcp_keepalives_idle`` / ``_interval`` / ``_count``: tune them, e.g. 10 s, 5 s,
3). No lease table and no expiry of our own: the database's lock manager is the lease engine.

On SQLite the service is one process (``transactive serve`` refuses a second one on the same data directory,
:func:`hold_data_dir`), so a lease is a lock of this process.

Leases are used by the market cycle (clearing a slot), the ledger desk (anchoring and settling a slot; one
fleet-wide chain writer, :meth:`Leases.fleet_lock`, since the validators' and the desk's accounts each have one
nonce sequence) and the cycle's other tasks.

Tests pause a lease holder at a named point (:func:`pause_point`) to kill it there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

PAUSE_AT_ENV = "TRANSACTIVE_PAUSE_AT"  # tests only: comma-separated pause points (see pause_point)
PAUSE_DIR_ENV = "TRANSACTIVE_PAUSE_DIR"  # tests only: the folder of the claimed pause points
SERVE_LOCK_FILE = "serve.lock"


class DataDirBusy(RuntimeError):
    """Another ``transactive serve`` runs on this data directory's SQLite database."""


def lease_key(name: str) -> int:
    """The advisory-lock key of a lease: the first 8 bytes of SHA-256 of its name, as a signed 64-bit integer."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


class Leases:
    """Named leases over a database engine: fleet-wide advisory locks on PostgreSQL, process-local otherwise."""

    def __init__(self, engine: Engine | None = None) -> None:
        """``engine`` None: process-local leases only (a store without SQL, tests)."""
        self.engine = engine
        self.fleet = engine is not None and engine.dialect.name == "postgresql"
        self._local: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _local_lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._local.setdefault(name, threading.Lock())

    def _connect(self) -> Connection:
        assert self.engine is not None
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def hold(self, name: str, *, wait: bool = False) -> Iterator[bool]:
        """Hold the lease ``name`` for the block; yields False (and holds nothing) when another holder has it and
        ``wait`` is False. ``wait=True`` blocks until it is free."""
        local = self._local_lock(name)  # one holder per process too (a PostgreSQL session lock is reentrant)
        if not local.acquire(blocking=wait):
            yield False
            return
        try:
            if not self.fleet:
                yield True
                return
            conn = self._connect()
            key = lease_key(name)
            try:
                if wait:
                    conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                elif not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    conn.close()
                    yield False
                    return
            except Exception:
                conn.invalidate()
                conn.close()
                raise
            try:
                yield True
            finally:
                _release(conn, key)
        finally:
            local.release()

    def fleet_lock(self, name: str) -> FleetLock:
        """A reentrant lock over the lease ``name`` (a drop-in for :class:`threading.RLock`)."""
        return FleetLock(self, name)


def _release(conn: Connection, key: int) -> None:
    try:
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.close()
    except Exception:  # the session is gone (the server restarted): so is its lock
        log.warning("releasing lease %s failed; dropping its connection", key, exc_info=True)
        conn.invalidate()
        conn.close()


class ChainLock(Protocol):
    """What the ledger desk needs of its chain-writer lock: a reentrant context manager (``threading.RLock`` in
    one process, :class:`FleetLock` in a fleet)."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *args: Any) -> Any: ...


class FleetLock:
    """A reentrant lock held fleet-wide: the first acquisition in a thread also takes the lease (blocking); the
    last release frees it. Used as the ledger desk's chain-writer lock: one process at a time sends
    transactions, so the shared accounts' nonces never collide and enrolment mints once."""

    def __init__(self, leases: Leases, name: str) -> None:
        self.leases = leases
        self.name = name
        self._local = threading.RLock()
        self.local: ChainLock = self._local  # the in-process part alone: chain reads (see LedgerContext.read_lock)
        self._depth = 0
        self._held: Any = None  # the lease's context manager while held

    def acquire(self) -> bool:
        self._local.acquire()
        if self._depth == 0:
            held = self.leases.hold(self.name, wait=True)
            try:
                held.__enter__()
            except BaseException:
                self._local.release()
                raise
            self._held = held
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                held, self._held = self._held, None
                held.__exit__(None, None, None)
        finally:
            self._local.release()

    def __enter__(self) -> FleetLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def pause_point(point: str) -> None:
    """Tests only: when ``$TRANSACTIVE_PAUSE_AT`` lists ``point`` (e.g. ``clear``, ``tx:open_and_commit``,
    ``intent:submit_and_settle``), the
    first process of the fleet to get here claims it (creates ``$TRANSACTIVE_PAUSE_DIR/<point>`` holding its
    pid) and sleeps for ever, holding its leases, so that the test kills it there; the others pass."""
    wanted = os.environ.get(PAUSE_AT_ENV)
    folder = os.environ.get(PAUSE_DIR_ENV)
    if not wanted or not folder or point not in wanted.split(","):
        return
    marker = Path(folder) / point.replace(":", "_")
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    log.warning("paused at %s (pid %d)", point, os.getpid())
    while True:
        time.sleep(3600)


def pause_requested() -> bool:
    """Whether ``$TRANSACTIVE_PAUSE_AT`` names a point (tests only)."""
    return bool(os.environ.get(PAUSE_AT_ENV)) and bool(os.environ.get(PAUSE_DIR_ENV))


class PauseAfterTransact:
    """Tests only: a chain whose ``transact(contract, fn, ...)`` reaches :func:`pause_point` ``tx:<fn>`` right after
    the transaction is mined (on chain, its receipt not yet stored by the caller); everything else is the
    wrapped chain's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def transact(self, contract: Any, fn: str, *args: Any, sender: str | None = None) -> Any:
        receipt = self.inner.transact(contract, fn, *args, sender=sender)
        pause_point(f"tx:{fn}")
        return receipt

    def use_journal(self, journal: Any) -> None:
        """The wrapped chain's journal, with :func:`pause_point` ``intent:<step>`` right after a transaction's
        intent is written (signed and recorded, not yet sent to the node)."""
        self.inner.use_journal(None if journal is None else _PauseAfterIntent(journal))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _PauseAfterIntent:
    """Tests only: a transaction journal (:mod:`transactive.ledger.chain.intents`) that reaches :func:`pause_point`
    ``intent:<step>`` once an intent is written."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def put_tx_intent(self, intent: Any) -> None:
        self.inner.put_tx_intent(intent)
        pause_point(f"intent:{intent.step}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def hold_data_dir(data_dir: Path) -> IO[str]:
    """Lock ``DATA_DIR/serve.lock`` for this process's lifetime (SQLite: one service per data directory);
    :class:`DataDirBusy` naming the holder's pid when another process has it. Keep the returned file open."""
    import fcntl

    path = data_dir / SERVE_LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the process's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise DataDirBusy(f"another transactive serve (pid {holder}) runs on {data_dir}: SQLite serves one "
                          "process; run a fleet on PostgreSQL (--db-url)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
