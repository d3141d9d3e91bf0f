"""Reopening a deployed ledger with other ``--validators`` / ``--threshold`` than the Registry holds is refused
with a message naming the option (exit 2), instead of a service whose every ``open_slot`` reverts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service_support import ROOT, free_port
from transactive.market import MarketError
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.store import open_store


def test_reopen_with_other_validators_or_threshold_is_refused(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain", validators=4, threshold=3)).close()
    for validators, threshold, option in ((5, 3, "--validators"), (3, 3, "--validators"), (4, 2, "--threshold")):
        with pytest.raises(MarketError) as exc:
            LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain", validators=validators, threshold=threshold))
        assert exc.value.field == option and "--threshold 3" in exc.value.message
    desk = LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain", validators=4, threshold=3))  # the same: fine
    assert int(desk.chain.call(desk.registry, "threshold")) == 3
    desk.close()
    store.close()

    done = subprocess.run([sys.executable, "-m", "transactive.cli", "serve", "--data-dir", str(tmp_path),
                           "--port", str(free_port()), "--validators", "5", "--threshold", "4"],
                          check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin",
                               "TRANSACTIVE_ADMIN_KEY": "tk_admin_reopen"})
    assert done.returncode == 2, done.stderr
    assert "--validators" in done.stderr and "Traceback" not in done.stderr, done.stderr
