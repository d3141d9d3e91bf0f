"""``SlotArchive`` replaces ``ledger.json`` atomically: a failure while writing leaves the old manifest whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transactive.ledger.audit.audit import SlotArchive


def test_a_failed_manifest_write_leaves_the_previous_manifest_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = SlotArchive(tmp_path)
    archive.create(registry="0x" + "11" * 20, token="0x" + "22" * 20, slots="0x" + "33" * 20)
    archive.record_mint(7)
    before = archive.manifest_path.read_bytes()

    def disk_error(fd: int) -> None:  # the disk fails before the new manifest is durable
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", disk_error)
        with pytest.raises(OSError, match="No space left"):
            archive.record_mint(5)
    assert archive.manifest_path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]  # no temporary file left behind
    archive.record_mint(5)
    assert archive.manifest()["mintedMicro"] == 12
