"""Tables as DATA: header detection, the label column, non-numeric cells, value checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    "label",
    ["label", "Label", "labels", "target", "Targets", "y", "class", "Class Label", "category"],
)
def test_a_column_named_like_a_label_is_the_label_without_y(tmp_path: Path, label: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"a,b,{label},c,d,e,f\n1,2,0,3,4,5,6\n1,2,1,3,4,5,6\n")
    report = json.loads(run_cli(["diagnose", str(MODEL), str(path), "--format", "json"]).stdout)
    x, y = (r for r in report["results"] if r["role"] in ("x", "y"))
    assert (x["shape"], y["shape"]) == ([2, 6], [2])
    assert y["notes"] == [
        f"the label column {label!r} was found by its name; --y COLUMN names another"
    ]


def test_y_names_the_label_column_and_no_note_is_added(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,f,label,score\n1,2,3,4,5,6,9,0.5\n")
    report = json.loads(
        run_cli(["diagnose", str(MODEL), str(path), "--y", "score", "--format", "json"], 1).stdout
    )
    [x] = [r for r in report["results"] if r["role"] == "x"]
    [y] = [r for r in report["results"] if r["role"] == "y"]
    assert "notes" not in y
    # 'label' is now a feature, one more than the model takes: said so.
    [finding] = x["findings"]
    assert finding["code"] == "KF107"
    assert "'label' looks like a label column, not a feature" in finding["what"]


@pytest.mark.parametrize(
    ("header", "extra"),
    [
        ("id,a,b,c,d,e,f,target", ["id"]),
        (",a,b,c,d,e,f,target", [""]),  # pandas to_csv(index=True) without an index name
        ("Unnamed: 0,a,b,c,d,e,f,target", ["Unnamed: 0"]),
        ("customer_id,a,b,c,d,e,f,target,label", ["customer_id", "label"]),
    ],
)
def test_features_off_by_id_like_or_label_like_columns_say_so(
    tmp_path: Path, header: str, extra: list[str]
) -> None:
    path = tmp_path / "t.csv"
    cells = ",".join(["1"] * len(header.split(",")))
    path.write_text(f"{header}\n{cells}\n{cells}\n")
    outcome = run_cli(["diagnose", str(MODEL), str(path), "--format", "json"], 1)
    [finding] = [f for r in json.loads(outcome.stdout)["results"] for f in r["findings"]]
    assert finding["code"] == "KF107"
    assert finding["details"]["not_features"] == extra
    assert "exactly the 6 the input takes" in finding["what"]
    assert "drop " in finding["fix"] and "[no automatic fix]" in finding["fix"]
    text = run_cli(["diagnose", str(MODEL), str(path)], 1).stdout
    assert "look" in text and ("not a feature" in text or "not features" in text)


def test_a_feature_taken_for_the_label_by_its_name_is_said(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,label\n1,2,3,4,5,6\n")  # 'label' is the model's 6th feature
    outcome = run_cli(["diagnose", str(MODEL), str(path)], 1)
    assert "the column 'label' was taken as the labels by its name" in outcome.stdout
    assert "name the label column with --y COLUMN" in outcome.stdout


def test_features_off_by_other_columns_get_no_id_hint(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,f,g,target\n1,2,3,4,5,6,7,0\n")
    outcome = run_cli(["diagnose", str(MODEL), str(path), "--format", "json"], 1)
    [finding] = [f for r in json.loads(outcome.stdout)["results"] for f in r["findings"]]
    assert "not_features" not in finding["details"] and "look" not in finding["what"]
