"""``transactive study``: writes the report; bad arguments exit 2 naming the argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from transactive.cli import main
from transactive.studies import jing_report, martinez_report, rahmani_report
from transactive.studies.alashery_report import CSVS, FIGURES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_study_writes_index_csvs_and_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["study", "alashery-2021", "--out", str(out), "--days", "1", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress bar when stderr is not a terminal
    assert str(out / "index.html") in captured.out
    page = (out / "index.html").read_text()
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f'src="{name}"' in page
    for name in CSVS:
        lines = (out / name).read_text().splitlines()
        assert len(lines) > 1, name
    assert "Table II" in page and "Paper vs here" in page
    hours = (out / "hours.csv").read_text().splitlines()
    assert len(hours) == 1 + 24 * (5 + 3)  # five schemes, plus the P2P schemes at zero shares


def test_martinez_study_writes_index_csvs_and_pngs_and_names_its_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    argv = ["study", "martinez-trejo-2022", "--out", str(out), "--days", "1", "--seed", "2",
            "--set", "calibration=text"]
    assert main(argv) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    page = (out / "index.html").read_text()
    for name in martinez_report.FIGURES:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f'src="{name}"' in page
    for name in martinez_report.CSVS:
        assert len((out / name).read_text().splitlines()) > 1, name
    assert "Paper vs here" in page and "Energies: <b>the text's 30-200 kWh</b>" in page
    runs = (out / "runs.csv").read_text().splitlines()
    assert len(runs) == 1 + 6 * 2 * 1 * 2  # sizes × behaviours × seeds × auctions
    assert "--set calibration=table" in page  # the page names the other reading


def test_rahmani_study_writes_index_csvs_and_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    argv = ["study", "rahmani-negawatt", "--out", str(out), "--days", "2", "--set", "target_kwh=60"]
    assert main(argv) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    page = (out / "index.html").read_text()
    for name in rahmani_report.FIGURES:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f'src="{name}"' in page
    for name in rahmani_report.CSVS:
        assert len((out / name).read_text().splitlines()) > 1, name
    assert "Paper vs here" in page and "T = 60 kWh" in page
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 2 * 8  # seeds × market sizes


def test_jing_study_writes_index_csvs_and_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["study", "jing-2021", "--out", str(out), "--days", "2", "--set", "dra_price_per_kwh=12"]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    page = (out / "index.html").read_text()
    for name in jing_report.FIGURES:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f'src="{name}"' in page
    for name in jing_report.CSVS:
        assert len((out / name).read_text().splitlines()) > 1, name
    assert "Paper vs here" in page and "the DRA's 12 tokens/kW" in page
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 2 * 9  # seeds × requests


@pytest.mark.parametrize(("argv", "named"), [
    (["study", "jing-2021", "--days", "0"], "--days"),
    (["study", "jing-2021", "--set", "buyer_price_per_kwh=free"], "--set buyer_price_per_kwh"),
    (["study", "jing-2021", "--set", "dra_price_per_kwh=-3"], "--set dra_price_per_kwh"),
    (["study", "rahmani-negawatt", "--days", "0"], "--days"),
    (["study", "rahmani-negawatt", "--set", "target_kwh=lots"], "--set target_kwh"),
    (["study", "rahmani-negawatt", "--set", "reserve_price_per_kwh=-1"], "--set reserve_price_per_kwh"),
    (["study", "rahmani-negawatt", "--set", "calibration=text"], "--set"),
    (["study", "martinez-trejo-2022", "--days", "0"], "--days"),
    (["study", "martinez-trejo-2022", "--set", "calibration=kwh"], "--set calibration"),
    (["study", "martinez-trejo-2022", "--set", "calibration"], "--set"),
    (["study", "martinez-trejo-2022", "--set", "sizes=P-10"], "--set"),
    (["study", "alashery-2021", "--set", "calibration=text"], "--set"),
    (["study", "no-such-study"], "name"),
    (["study", "alashery-2021", "--days", "0"], "--days"),
    (["study", "alashery-2021", "--seed", "-1"], "--seed"),
    (["study", "alashery-2021", "--days", "many"], "--days"),
])
def test_bad_arguments_exit_2_naming_the_argument(
    argv: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main([*argv, "--out", str(tmp_path / "x")])
    except SystemExit as exc:  # argparse's own errors (not an integer) exit through SystemExit
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_out_that_is_a_file_exits_2_naming_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me")
    assert main(["study", "alashery-2021", "--out", str(target), "--days", "1"]) == 2
    assert "--out" in capsys.readouterr().err
    assert target.read_text() == "keep me"
