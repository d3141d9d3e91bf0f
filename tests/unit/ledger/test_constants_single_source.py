"""The contracts' constants have one Python copy (``transactive.ledger.chain.constants``) equal to the Vyper
sources, and production code never imports the test helpers (``transactive.ledger.testing``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import transactive
from transactive.ledger.chain import constants

PACKAGE = Path(transactive.__file__).parent
CONTRACTS = PACKAGE / "ledger" / "chain" / "contracts"
NAMES = {n for n in constants.__all__ if n.startswith(("ROLE_", "MODE_")) and n != "ROLE_BITS"} | {
    "CLOSE", "FOR_SALE", "RESERVE_NOT_MET", "CLEARED", "SETTLED", "CANCELLED", "DISPUTED"}


def _vyper_constants(name: str) -> dict[str, int]:
    text = (CONTRACTS / f"{name}.vy").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+): public\(constant\(uint256\)\) = (\d+)$", text, re.M)}


def test_the_python_constants_equal_the_contracts() -> None:
    contract = _vyper_constants("Registry") | _vyper_constants("MarketSlots")
    assert {n: getattr(constants, n) for n in NAMES} == {n: contract[n] for n in NAMES}
    struct = (CONTRACTS / "MarketSlots.vy").read_text().split("struct Slot:")[1].split("\n\n")[0]
    assert tuple(re.findall(r"^\s+(\w+):", struct, re.M)) == constants.SLOT_FIELDS


def _modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p.name != "constants.py" or p.parent.name != "chain"]


def test_no_other_module_defines_a_role_or_slot_state() -> None:
    defined = []
    for path in _modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign):
                targets = [t for tgt in node.targets for t in (tgt.elts if isinstance(tgt, ast.Tuple) else [tgt])]
                defined += [(path.name, t.id) for t in targets if isinstance(t, ast.Name) and t.id in NAMES]
    assert defined == []


def test_production_code_does_not_import_the_test_helpers() -> None:
    importers = []
    for path in _modules():
        if path.name == "testing.py" and path.parent.name == "ledger":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "transactive.ledger.testing":
                importers.append(path.relative_to(PACKAGE).as_posix())
    assert importers == []
