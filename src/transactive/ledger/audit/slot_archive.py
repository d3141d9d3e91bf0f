"""The archive layout of ``transactive ledger verify`` (:mod:`transactive.ledger.audit.audit`): writing and
reading ``DATA_DIR``, and opening the chain an audit reads (read only).

Layout of ``DATA_DIR`` (written by :class:`SlotArchive`; the seeds are silent, this is our choice):

* ``DATA_DIR/ledger.json`` -- the manifest ``{"format": "transactive.ledger-archive/1", "registry": addr,
  "token": addr, "slots": addr, "mintedMicro": int, "burnedMicro": int}`` (contract addresses and the
  token issuance journal, updated by :meth:`SlotArchive.record_mint` / :meth:`SlotArchive.record_burn`;
  optionally ``"accounts"``: further token holders, e.g. a service's member accounts, for the supply check);
* ``DATA_DIR/chain/`` -- the in-process chain's data directory (either engine, :mod:`transactive.ledger.chain.connect`);
* ``DATA_DIR/slots/<slot>.json`` -- one ``transactive.ledger-batch/3`` (older: ``/2``, ``/1``) file per slot
  (with its ``market`` member, results and endorsements);
* ``DATA_DIR/settlements/<slot>.json`` -- one ``transactive.settlement-archive/1`` file per settlement slot
  (a service's second on-chain slot settling an anchored slot: its input document, postings, roots and
  endorsements; :mod:`transactive.ledger.audit.archive`). Archives written before these existed have
  no such folder and verify as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transactive.files import write_atomic
from transactive.ledger.audit.archive import SettlementRecord
from transactive.ledger.audit.proofs import ProofError, SlotBatch, save_batch
from transactive.ledger.chain.base import Chain

ARCHIVE_FORMAT = "transactive.ledger-archive/1"

__all__ = ["ARCHIVE_FORMAT", "AuditInputError", "SlotArchive", "open_archive_chain", "open_rpc_chain"]


class AuditInputError(ValueError):
    """The archive cannot be read (exit code 2)."""


class SlotArchive:
    """Writes and reads the ``DATA_DIR`` layout (see the module docstring)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir)

    @property
    def chain_dir(self) -> Path:
        return self.root / "chain"

    @property
    def manifest_path(self) -> Path:
        return self.root / "ledger.json"

    def slot_path(self, slot: int) -> Path:
        return self.root / "slots" / f"{slot}.json"

    def create(self, *, registry: str, token: str, slots: str) -> None:
        """Write a fresh manifest for a deployment (no tokens issued yet)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._write({"format": ARCHIVE_FORMAT, "registry": registry, "token": token, "slots": slots,
                     "mintedMicro": 0, "burnedMicro": 0})

    def _write(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically: a temporary file in the same folder, flushed to disk, renamed
        over ``ledger.json`` and the folder synced, so a crash leaves the old or the new manifest whole."""
        write_atomic(self.manifest_path, json.dumps(manifest, indent=1) + "\n")

    def manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AuditInputError(f"cannot read {self.manifest_path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != ARCHIVE_FORMAT:
            raise AuditInputError(f"{self.manifest_path} is not a {ARCHIVE_FORMAT} manifest")
        for key in ("registry", "token", "slots"):
            if not isinstance(data.get(key), str):
                raise AuditInputError(f"{self.manifest_path}: missing {key!r} address")
        for key in ("mintedMicro", "burnedMicro"):
            if not isinstance(data.get(key), int):
                raise AuditInputError(f"{self.manifest_path}: {key!r} must be an integer")
        return data

    def record_mint(self, amount_micro: int, *, to: str | None = None) -> None:
        """Journal a mint of ``amount_micro`` (call alongside ``EnergyToken.mint``). ``to``: the one mint to
        that account, journaled once (a second call is a no-op; kept in ``mintedTo``), so that a caller can
        journal before it mints and retry both after a crash."""
        m = self.manifest()
        if to is not None:
            if to in m.get("mintedTo", []):
                return
            m["mintedTo"] = [*m.get("mintedTo", []), to]
        m["mintedMicro"] += amount_micro
        self._write(m)

    def record_mints_to(self, amount_micro_each: int, accounts: Sequence[str]) -> None:
        """Journal one mint of ``amount_micro_each`` to each of ``accounts`` in one manifest write (batch
        enrolment): :meth:`record_mint` with ``to=`` for each, an account already journaled skipped."""
        m = self.manifest()
        known = set(m.get("mintedTo", []))
        fresh = list(dict.fromkeys(a for a in accounts if a not in known))
        if fresh:
            m["mintedTo"] = [*m.get("mintedTo", []), *fresh]
            m["mintedMicro"] += amount_micro_each * len(fresh)
            self._write(m)

    def record_accounts(self, accounts: Sequence[str]) -> None:
        """Add token holders the audit should count (e.g. a service's member accounts) to the manifest."""
        m = self.manifest()
        known = list(m.get("accounts", []))
        seen = set(known)
        fresh = list(dict.fromkeys(a for a in accounts if a not in seen))
        if fresh:
            m["accounts"] = known + fresh
            self._write(m)

    def record_burn(self, amount_micro: int) -> None:
        """Journal a burn of ``amount_micro`` (call alongside ``EnergyToken.burn``)."""
        m = self.manifest()
        m["burnedMicro"] += amount_micro
        self._write(m)

    def save(self, batch: SlotBatch) -> Path:
        """Store a slot batch as ``slots/<slot>.json``."""
        path = self.slot_path(batch.slot)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_batch(batch, path)
        return path

    def slots(self) -> list[int]:
        """Archived slot numbers, ascending (``AuditInputError`` for a file not named ``<int>.json``)."""
        return self._numbers("slots")

    def _numbers(self, folder: str) -> list[int]:
        found = []
        for path in sorted((self.root / folder).glob("*.json")):
            if not path.stem.isdigit():
                raise AuditInputError(f"unexpected file {path} (files in {folder}/ are <slot>.json)")
            found.append(int(path.stem))
        return sorted(found)

    def settlement_path(self, slot: int) -> Path:
        return self.root / "settlements" / f"{slot}.json"

    def save_settlement(self, record: SettlementRecord) -> Path:
        """Store a settled settlement slot as ``settlements/<slot>.json`` (atomically, :func:`write_atomic`;
        saving it again replaces it whole)."""
        path = self.settlement_path(record.slot)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(record.to_json(), indent=1, sort_keys=True) + "\n")
        return path

    def settlement_slots(self) -> list[int]:
        """Archived settlement slot numbers, ascending (none in an archive written before they existed)."""
        return self._numbers("settlements")

    def load_settlement(self, slot: int) -> SettlementRecord:
        path = self.settlement_path(slot)
        try:
            record = SettlementRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise AuditInputError(f"cannot read {path}: {exc}") from exc
        if record.slot != slot:
            raise AuditInputError(f"{path} holds slot {record.slot}")
        return record

    def load(self, slot: int) -> tuple[SlotBatch, dict[str, Any]]:
        """The batch (parsed without trusting its stated roots) and the raw document."""
        path = self.slot_path(slot)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ProofError("not a JSON object")
            stripped = {k: v for k, v in data.items() if k not in {"orderRoot", "resultRoot"}}
            batch = SlotBatch.from_json(stripped)
        except (OSError, json.JSONDecodeError, ProofError) as exc:
            raise AuditInputError(f"cannot read {path}: {exc}") from exc
        if batch.slot != slot:
            raise AuditInputError(f"{path} holds slot {batch.slot}")
        return batch, data


@contextmanager
def open_archive_chain(archive: SlotArchive) -> Iterator[Chain]:
    import sqlite3

    from transactive.ledger.chain.connect import ENGINE_FILES, engine_of, open_local_chain
    from transactive.ledger.chain.constants import PYEVM
    from transactive.ledger.chain.embedded import DataDirInUse

    try:  # either engine's file; py-evm's named when there is none
        path = archive.chain_dir / ENGINE_FILES[engine_of(archive.chain_dir, PYEVM)]
    except ValueError as exc:
        raise AuditInputError(str(exc)) from exc
    if not path.is_file():
        raise AuditInputError(f"no chain in {archive.chain_dir} (expected {path})")
    try:  # read only: nothing is created or written in the archive it audits, not even a genesis
        chain = open_local_chain(archive.chain_dir, read_only=True)
    except (sqlite3.Error, DataDirInUse, OSError) as exc:
        raise AuditInputError(f"cannot read the chain database {path}: {exc}") from exc
    try:
        yield chain
    finally:
        chain.close()


@contextmanager
def open_rpc_chain(url: str) -> Iterator[Chain]:
    from transactive.ledger.chain.rpc import RpcChain, RpcError

    if not url.startswith(("http://", "https://")):
        raise AuditInputError(f"--chain-url: expected an http(s) JSON-RPC URL, got {url!r}")
    try:
        chain = RpcChain(url, fund_dev_accounts=False)
    except (OSError, RpcError, ValueError) as exc:  # requests' connection errors are OSErrors
        raise AuditInputError(f"cannot reach the chain at {url}: {exc}") from exc
    try:
        yield chain
    finally:
        chain.close()
