"""The ``transactive`` command end to end: results, the formats' schemas, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from transactive.cli import main
from transactive.examples import load_examples

ROOT = Path(__file__).resolve().parents[2]
MARKET_SCHEMA = json.loads((ROOT / "docs/schemas/market.schema.json").read_text())
RESULT_SCHEMA = json.loads((ROOT / "docs/schemas/result.schema.json").read_text())

UNIFORM = {
    "format": "transactive.market/1",
    "mechanism": "uniform",
    "sellers": [{"id": "s1", "energy_kwh": 10, "price_per_kwh": 1.0}],
    "buyers": [{"id": "b1", "energy_kwh": 4, "price_per_kwh": 3.0}],
}


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("TRANSACTIVE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "transactive.cli", *args], capture_output=True, text=True,
                          input=stdin, env=env, timeout=120, check=False)


def write(tmp_path: Path, doc: Any, name: str = "market.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_clear_writes_a_schema_valid_result(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = run_cli("clear", str(write(tmp_path, UNIFORM)), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    jsonschema.validate(result, RESULT_SCHEMA)
    assert result["buyers"] == [{"id": "b1", "energy_kwh": 4.0, "payment": 8.0}]


def test_clear_prints_to_stdout_and_reads_stdin() -> None:
    proc = run_cli("clear", "-", stdin=json.dumps(UNIFORM))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["price_per_kwh"] == 2.0


def test_every_seed_example_market_is_schema_valid() -> None:
    for example in load_examples():
        jsonschema.validate(example.market, MARKET_SCHEMA)


BAD: list[tuple[str, Any, str]] = [
    ("malformed", '{"format": "transactive.market/1", ', "(file)"),
    ("nan", json.dumps(UNIFORM).replace('"price_per_kwh": 3.0', '"price_per_kwh": NaN'), "buyers[0].price_per_kwh"),
    ("infinite", json.dumps(UNIFORM).replace('"energy_kwh": 4', '"energy_kwh": 1e999'), "buyers[0].energy_kwh"),
    ("negative", {**UNIFORM, "sellers": [{"id": "s1", "energy_kwh": -1, "price_per_kwh": 1}]}, "sellers[0].energy_kwh"),
    ("absurd", {**UNIFORM, "sellers": [{"id": "s1", "energy_kwh": 5e15, "price_per_kwh": 1}]}, "sellers[0].energy_kwh"),
    ("duplicate", {**UNIFORM, "buyers": [{"id": "s1", "energy_kwh": 4, "price_per_kwh": 3}]}, "buyers[0].id"),
    ("empty side", {**UNIFORM, "buyers": []}, "buyers"),
    ("unknown mechanism", {**UNIFORM, "mechanism": "nope"}, "mechanism"),
    ("unknown parameter", {**UNIFORM, "params": {"k": 0.5}}, "params.k"),
    ("wrong version", {**UNIFORM, "format": "transactive.market/0"}, "format"),
]


@pytest.mark.parametrize(("label", "doc", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, doc: Any, field: str
) -> None:
    out = tmp_path / "result.json"
    code = main(["clear", str(write(tmp_path, doc)), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2, label
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()  # nothing written


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    proc = run_cli("clear", str(write(tmp_path, BAD[1][1])))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: buyers[0].price_per_kwh: must be a finite number, got nan"
    )


def test_missing_file_and_usage_errors_exit_2(tmp_path: Path) -> None:
    proc = run_cli("clear", str(tmp_path / "absent.json"))
    assert proc.returncode == 2 and "no such file" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("clear")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run_cli("frobnicate")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_out_into_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["clear", str(write(tmp_path, UNIFORM)), "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: --out: ")


MATCHED = {
    "format": "transactive.market/1",
    "mechanism": "dpda_matched",
    "sellers": [{"id": "24", "energy_kwh": 25, "price_per_kwh": 10, "bus": "34", "distance_pref_m": 100,
                 "a": 0.01, "b": 1.0, "c": 0.5}],
    "buyers": [{"id": "39", "energy_kwh": 16, "price_per_kwh": 28, "bus": "no-such-bus", "distance_pref_m": 80,
                "omega": 60, "alpha": 0.2}],
}


def test_errors_found_while_clearing_also_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["clear", str(write(tmp_path, MATCHED))])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: buyers[0].bus: ") and len(err.strip().splitlines()) == 1


def test_scenario_runs_a_slot_draws_it_and_writes_a_market_that_clears_alike(tmp_path: Path) -> None:
    png, market_path = tmp_path / "slot.png", tmp_path / "market.json"
    proc = run_cli("scenario", "P-10", "--energy-range-kwh", "1", "5", "--draw", str(png),
                   "--market-out", str(market_path))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the written market, cleared through the file path (dpda_matched), gives the slot's p0
    cleared = run_cli("clear", str(market_path))
    assert cleared.returncode == 0, cleared.stderr
    p0 = json.loads(cleared.stdout)["price_per_kwh"]
    assert f"p0 = {p0:,.4f}/kWh" in " ".join(proc.stdout.split())


def test_scenario_bad_size_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "P-7"]) == 2
    assert capsys.readouterr().err.startswith("error: n: ")


def test_ledger_proof_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("ledger", "proof", "--verify", str(tmp_path / "absent.json"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
