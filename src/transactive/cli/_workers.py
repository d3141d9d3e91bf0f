"""Supervision of the gateway worker processes of ``transactive serve --mqtt-workers N``.

Each worker is ``transactive serve --mqtt-only`` with its own fixed MQTT client id (a persistent broker
session). A worker that exits while the service runs (crash, OOM kill, SIGKILL) is started again with the
same command, hence the same client id: it takes over its broker session, so the orders the dead worker had
received but not yet committed (never acknowledged, since a PUBACK follows the commit) are redelivered to it,
and the orders the broker queued for that session meanwhile too. Restarts back off (0.5 s, doubling up to
30 s) while a worker keeps dying within 10 s of its start; a worker that ran longer restarts after 0.5 s.

Each worker's stdout is read to its end by a thread of its own: the first line is the worker's ``ready``
(printed once subscribed), every later line goes to this process's log (INFO), so a worker never blocks on a
full pipe. Only :meth:`WorkerSupervisor.start` waits for the ``ready`` lines; the watch thread that restarts
workers never waits for one, so a restarted worker that hangs before subscribing cannot keep the others from
being restarted (it is only logged when it exits before its ``ready``).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STABLE_S = 10.0
POLL_S = 0.2


@dataclass(eq=False)
class _Readiness:
    """Whether a worker process printed ``ready`` (``settled`` once known: ``ready`` seen or stdout closed)."""

    settled: threading.Event = field(default_factory=threading.Event)
    ready: bool = False


class WorkerSupervisor:
    """Start the workers, wait until each is subscribed, and keep them running until :meth:`stop`."""

    def __init__(self, commands: Sequence[Sequence[str]], env: Mapping[str, str]) -> None:
        self.commands = [list(c) for c in commands]
        self.env = dict(env)
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * len(self.commands)
        self.readiness: list[_Readiness] = [_Readiness() for _ in self.commands]
        self.restarts = 0
        self._started_at = [0.0] * len(self.commands)
        self._delay_s = [FIRST_DELAY_S] * len(self.commands)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._drains: list[threading.Thread] = []  # each worker's stdout reader (joined by stop)

    def start(self) -> WorkerSupervisor:
        """Start every worker and return once all are subscribed (RuntimeError if one fails to start)."""
        for index in range(len(self.commands)):
            self._spawn(index)
        for index, process in enumerate(self.processes):
            assert process is not None
            readiness = self.readiness[index]
            readiness.settled.wait()
            if not readiness.ready:
                raise RuntimeError(f"MQTT gateway worker {index + 1} exited with {process.wait()}")
        self._thread = threading.Thread(target=self._watch, name="mqtt-worker-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop supervising, then SIGTERM every worker (SIGKILL after 30 s)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(60)
        with self._lock:
            processes = [p for p in self.processes if p is not None]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with self._lock:
            drains, self._drains = self._drains, []
        for drain in drains:  # every line the workers wrote is logged before stop returns
            drain.join(30)

    def _spawn(self, index: int) -> None:
        with self._lock:
            process = subprocess.Popen(self.commands[index], env=self.env, stdout=subprocess.PIPE)
            readiness = _Readiness()
            self.processes[index], self.readiness[index] = process, readiness
            self._started_at[index] = time.monotonic()
        drain = threading.Thread(target=_drain, args=(index, process, readiness),
                                 name=f"mqtt-worker-{index + 1}-stdout", daemon=True)
        with self._lock:
            self._drains.append(drain)
        drain.start()

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_S):
            for index, process in enumerate(self.processes):
                if process is None or process.poll() is None:
                    continue
                lived_s = time.monotonic() - self._started_at[index]
                delay_s = FIRST_DELAY_S if lived_s >= STABLE_S else self._delay_s[index]
                self._delay_s[index] = min(delay_s * 2, MAX_DELAY_S)
                log.warning("MQTT gateway worker %d (pid %d) exited with %s after %.1f s; restarting in %.1f s",
                            index + 1, process.pid, process.returncode, lived_s, delay_s)
                if self._stopping.wait(delay_s):
                    return
                self._spawn(index)
                self.restarts += 1


def _drain(index: int, process: subprocess.Popen[bytes], readiness: _Readiness) -> None:
    """Read the worker's stdout to its end: the ``ready`` line, then every other line into the log."""
    assert process.stdout is not None
    with process.stdout as out:
        first = out.readline()
        readiness.ready = first.strip() == b"ready"
        readiness.settled.set()
        if not first:
            log.warning("MQTT gateway worker %d (pid %d) exited before subscribing", index + 1, process.pid)
        elif not readiness.ready:
            log.warning("MQTT gateway worker %d (pid %d) printed %r instead of its ready line", index + 1,
                        process.pid, first[:200])
        for line in out:
            log.info("MQTT gateway worker %d: %s", index + 1, line.rstrip().decode(errors="replace"))
