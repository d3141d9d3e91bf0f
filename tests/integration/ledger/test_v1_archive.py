"""An archive written before issue 13 (two signatures per trader: the version-1 ``Order`` and a separately
signed ``Attributes`` record; ``transactive.ledger-batch/1``) still passes ``transactive ledger verify``
after the change to one signature per trader, and an attribute edited in it is still caught.

The fixture (``tests/fixtures/archives/ledger_v1_dpda_matched``) is the archive of the 20-prosumer
``dpda_matched`` slot of ``test_grid_clearance_e2e``, written by the code before the change (its embedded
chain gzipped)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from transactive.cli import main
from transactive.ledger.audit.audit import verify_archive

FIXTURE = Path(__file__).parents[2] / "fixtures" / "archives" / "ledger_v1_dpda_matched"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A working copy (verifying opens the chain's database)."""
    root = tmp_path / "archive"
    shutil.copytree(FIXTURE, root)
    packed = root / "chain" / "chain.sqlite.gz"
    (root / "chain" / "chain.sqlite").write_bytes(gzip.decompress(packed.read_bytes()))
    packed.unlink()
    return root


def test_a_version_1_archive_still_verifies(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored = json.loads((archive / "slots" / "9.json").read_text())
    assert stored["format"] == "transactive.ledger-batch/1"
    assert all("attributesHash" not in o for o in stored["orders"])
    assert all("signature" in a for a in stored["attributes"])  # two signatures per trader
    assert main(["ledger", "verify", str(archive)]) == 0
    assert "clean: 1 slot(s)" in capsys.readouterr().out


def test_an_attribute_edited_in_a_version_1_archive_is_caught(archive: Path) -> None:
    path = archive / "slots" / "9.json"
    stored = json.loads(path.read_text())
    stored["attributes"][0]["distancePrefMm"] += 1
    del stored["orderRoot"]  # else the load already refuses the stated root
    path.write_text(json.dumps(stored))
    found = verify_archive(archive)
    assert found is not None and (found.slot, found.what) == (9, "attributes 0")
    assert "signature" in found.found
