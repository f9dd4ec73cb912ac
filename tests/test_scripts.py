"""What scripts and CI rely on: an empty export is an error, an interrupted run says so in
every format, SARIF for code-scanning UIs, and the JSON report's published schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.conftest import FIXTURES, run_cli

DENSE = FIXTURES / "KF221" / "negative" / "model.keras"  # Input (6,) -> Dense(1), mse


def test_an_array_with_no_samples_is_an_error_not_a_pass(tmp_path: Path) -> None:
    np.savez(tmp_path / "train.npz", x=np.zeros((0, 6), np.float32), y=np.zeros(0, np.float32))
    outcome = run_cli(["diagnose", str(DENSE), str(tmp_path / "train.npz")], 1)
    assert "KF303 error  batch-larger-than-data" in outcome.stdout
    assert "'x', 'y' hold 0 samples: not one batch to train on" in outcome.stdout
    assert "No problems found" not in outcome.stdout


def test_a_lone_empty_npy_and_a_header_only_table_are_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((0, 6), np.float32))
    (tmp_path / "t.csv").write_text("a,b,c,d,e,f,label\n")
    for name in ("x.npy", "t.csv"):
        outcome = run_cli(["diagnose", str(DENSE), str(tmp_path / name), "--format", "json"], 1)
        report = json.loads(outcome.stdout)
        [finding] = [f for r in report["results"] for f in r["findings"]]
        assert (finding["code"], finding["severity"], finding["received"]) == ("KF303", "error", 0)
        assert report["status"] == "fail"


def test_an_empty_array_beside_full_ones_fails_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "a.npz", x=np.ones((8, 6), np.float32), y=np.ones(8, np.float32))
    np.savez(data / "b.npz", x=np.zeros((0, 6), np.float32), y=np.zeros(0, np.float32))
    report = json.loads(run_cli(["diagnose", str(DENSE), str(data), "--format", "json"], 1).stdout)
    flagged = {r["path"] for r in report["results"] if r["findings"]}
    assert flagged == {str(data / "b.npz")}
