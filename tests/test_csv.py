"""Tables as DATA: header detection, the label column, non-numeric cells, value checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kerasfix.loaders import read_data_file
from tests.conftest import FIXTURES, run_cli

MODEL = FIXTURES / "KF221" / "negative" / "model.keras"  # Input (6,) -> Dense(1), mse


def test_header_and_label_column_are_found(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,f,target\n1,2,3,4,5,6,1\n1,2,3,4,5,6,0\n")
    arrays = read_data_file(str(path)).arrays
    assert arrays["x"].shape == (2, 6) and arrays["y"].shape == (2,)


def test_label_by_name_or_index_and_no_header(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("9\t1\t2\t3\t4\t5\t6\n8\t1\t2\t3\t4\t5\t6\n")
    arrays = read_data_file(str(path), label="0").arrays
    assert arrays["x"].shape == (2, 6) and arrays["y"].shape == (2,)
    assert "y" not in read_data_file(str(path)).arrays


def test_stray_string_cell_is_kf222_with_row_and_column() -> None:
    folder = FIXTURES / "csv" / "stray-string"
    outcome = run_cli(["diagnose", "model.keras", "train.csv"], 1, cwd=folder)
    assert "KF222" in outcome.stdout and "row 3, column 'c': 'n/a'" in outcome.stdout


def test_healthy_table_is_clean_and_values_are_scanned(tmp_path: Path) -> None:
    run_cli(["diagnose", "model.keras", "train.csv"], 0, cwd=FIXTURES / "csv" / "healthy")
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,f,label\n1,2,3,4,5,6,1\n1,2,,4,5,6,0\n")
    report = json.loads(run_cli(["diagnose", str(MODEL), str(path), "--format", "json"], 1).stdout)
    codes = [f["code"] for r in report["results"] for f in r["findings"]]
    assert codes == ["KF221"]  # an empty cell is a missing value


def test_ragged_rows_are_kf001(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("1,2,3\n1,2\n")
    outcome = run_cli(["diagnose", str(MODEL), str(path)], 2)
    assert "row 2 has 2 cells" in outcome.stderr


def test_a_table_is_not_rewritten_by_repair(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,f,label\n1,2,3,4,5,6,1\n1,2,,4,5,6,0\n")
    outcome = run_cli(
        ["repair", str(MODEL), str(path), "--out", str(tmp_path / "o"), "--unsafe-fixes"], 1
    )
    assert "not repaired" in outcome.stdout
    # Carried into --out as it is (a hard link: the same bytes), never rewritten.
    assert os.path.samefile(tmp_path / "o" / "t.csv", path)
