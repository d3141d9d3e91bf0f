"""``transactive serve`` takes its start-up heap out of the cyclic garbage collector's reach before serving
(``freeze_startup_heap``): garbage made before is collected, not frozen; the living objects are frozen, so a
full collection no longer walks them; and ``run_serve`` does it after building the app, before uvicorn runs."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from transactive.cli import build_parser
from transactive.cli._serve import run_serve

SRC = Path(__file__).resolve().parents[3] / "src"

# in a fresh interpreter: a reference cycle that is garbage (only a weak reference left) and a living
# container object; then the freeze
PROBE = """
import gc, weakref
from transactive.cli._serve import freeze_startup_heap
class Node:
    pass
dead = Node(); dead.me = dead
gone = weakref.ref(dead)
del dead
alive = [Node() for _ in range(1000)]
tracked_before = len(gc.get_objects())
freeze_startup_heap()
print(gone() is None, any(o is alive for o in gc.get_objects()), gc.get_freeze_count() >= tracked_before // 2,
      len(gc.get_objects()) < tracked_before // 10)
"""


def test_the_freeze_collects_garbage_first_and_takes_the_living_heap_out_of_collections() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC)})
    garbage_collected, alive_still_tracked, frozen_most, few_left = done.stdout.split()
    assert garbage_collected == "True"  # collected before the freeze, not kept forever
    assert alive_still_tracked == "False"  # frozen: no longer among the collector's generations
    assert frozen_most == "True"
    assert few_left == "True"


def test_serve_freezes_after_building_the_app_and_before_serving(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **_: Any) -> None:
        seen["frozen"] = gc.get_freeze_count()
        gc.unfreeze()  # give the test process its collector back
        seen["service"] = app.state.service

    monkeypatch.setattr(uvicorn, "run", fake_run)
    from transactive.store import leases

    hold = leases.hold_data_dir  # the real lock, closed by the test (serve keeps it until the process ends)
    monkeypatch.setattr(leases, "hold_data_dir", lambda d: seen.setdefault("lock", hold(d)))
    gc.unfreeze()
    args = build_parser().parse_args(["serve", "--no-chain", "--data-dir", str(tmp_path / "data"),
                                      "--admin-key", "tk_admin_heap_test", "--port", "8765"])
    try:
        assert run_serve(args) == 0
    finally:
        if "service" in seen:
            seen["service"].intake.stop()
            seen["service"].store.close()
        if "lock" in seen:
            seen["lock"].close()
    assert seen["frozen"] > 0
