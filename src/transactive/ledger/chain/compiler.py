"""Compile the Vyper contracts of ``ledger/chain/contracts`` with the pinned ``vyper`` package, with a cache.

Artifacts (ABI + deployment bytecode) are cached as JSON files keyed by the SHA-256 of the source, the
compiler version and the EVM version, under ``$TRANSACTIVE_CACHE_DIR`` (default
``~/.cache/transactive/vyper``), so a test session compiles each contract at most once and later sessions
not at all. The target EVM version is ``cancun`` (supported by py-evm, hardhat, Besu).

Example:
    >>> art = load_artifact("Registry")  # doctest: +SKIP
    >>> art.name, len(art.bytecode) > 0  # doctest: +SKIP
    ('Registry', True)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vyper
from vyper import compile_code
from vyper.compiler.settings import Settings

CONTRACTS_DIR = Path(__file__).with_name("contracts")
EVM_VERSION = "cancun"
CONTRACT_NAMES = ("Registry", "EnergyToken", "MarketSlots", "NegawattAuction")


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its name, JSON ABI and deployment bytecode."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes


def _cache_dir() -> Path:
    env = os.environ.get("TRANSACTIVE_CACHE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "transactive"
    return base / "vyper"


def source_path(name: str) -> Path:
    """Path of the ``.vy`` source of contract ``name``."""
    path = CONTRACTS_DIR / f"{name}.vy"
    if not path.is_file():
        raise FileNotFoundError(f"no contract named {name!r} in {CONTRACTS_DIR}")
    return path


def load_artifact(name: str) -> Artifact:
    """Compile contract ``name`` (or load it from the cache)."""
    source = source_path(name).read_text(encoding="utf-8")
    key = hashlib.sha256(f"{vyper.__version__}\0{EVM_VERSION}\0{source}".encode()).hexdigest()[:32]
    cache_file = _cache_dir() / f"{name}-{key}.json"
    if cache_file.is_file():
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    else:
        data = _compile(name, source)
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, cache_file)  # atomic: parallel test workers never read half a file
        except OSError:
            pass  # a read-only home: compile every time, still correct
    return Artifact(name=name, abi=tuple(data["abi"]), bytecode=bytes.fromhex(data["bytecode"]))


def _compile(name: str, source: str) -> dict[str, Any]:
    out = compile_code(
        source,
        output_formats=["abi", "bytecode"],
        contract_path=f"{name}.vy",
        settings=Settings(evm_version=EVM_VERSION),
    )
    bytecode = str(out["bytecode"])
    return {"abi": out["abi"], "bytecode": bytecode.removeprefix("0x")}
