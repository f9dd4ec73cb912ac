"""Repair safety and bookkeeping: the cases the repair review found."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kerasfix.loaders import chunks
from tests.conftest import FIXTURES, run_cli


def _case(tmp_path: Path, case: str) -> Path:
    folder = tmp_path / "in"
    shutil.copytree(FIXTURES / case, folder)
    return folder


def test_an_output_may_not_replace_another_input(tmp_path: Path) -> None:
    model = FIXTURES / "KF102" / "positive" / "model.keras"
    (tmp_path / "d1" / "sub").mkdir(parents=True)
    (tmp_path / "o2" / "sub").mkdir(parents=True)
    source = FIXTURES / "KF102" / "positive" / "train.npz"
    shutil.copy(source, tmp_path / "d1" / "sub" / "t.npz")
    shutil.copy(source, tmp_path / "o2" / "sub" / "t.npz")
    before = (tmp_path / "o2" / "sub" / "t.npz").read_bytes()
    outcome = run_cli(
        [
            "repair",
            str(model),
            str(tmp_path / "d1"),
            str(tmp_path / "o2" / "sub" / "t.npz"),
            "--out",
            str(tmp_path / "o2"),
        ],
        2,
    )
    assert "is an input" in outcome.stderr or "both be written" in outcome.stderr
    assert (tmp_path / "o2" / "sub" / "t.npz").read_bytes() == before


def test_outputs_are_not_written_through_a_symlinked_folder(tmp_path: Path) -> None:
    model = FIXTURES / "KF102" / "positive" / "model.keras"
    (tmp_path / "d" / "sub").mkdir(parents=True)
    shutil.copy(FIXTURES / "KF102" / "positive" / "train.npz", tmp_path / "d" / "sub" / "t.npz")
    (tmp_path / "victim").mkdir()
    (tmp_path / "o").mkdir()
    os.symlink(tmp_path / "victim", tmp_path / "o" / "sub")
    outcome = run_cli(["repair", str(model), str(tmp_path / "d"), "--out", str(tmp_path / "o")], 2)
    assert "symbolic link" in outcome.stderr
    assert list((tmp_path / "victim").iterdir()) == []


def test_out_under_a_file_is_refused(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF101/positive")
    (tmp_path / "afile").write_text("x")
    outcome = run_cli(
        ["repair", "model.h5", "x_train.npy", "--out", str(tmp_path / "afile" / "sub")],
        2,
        cwd=folder,
    )
    assert "is not a folder" in outcome.stderr


def test_single_sample_larger_than_a_chunk_is_copied_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 64)
    folder = _case(tmp_path, "KF108/positive")
    x = np.random.default_rng(1).random(6, dtype=np.float32)
    np.savez(folder / "one.npz", x=x, y=np.zeros((1, 1), dtype=np.float32))
    run_cli(["repair", "model.keras", "one.npz", "--out", str(tmp_path / "out")], 0, cwd=folder)
    with np.load(tmp_path / "out" / "one.npz") as z:
        np.testing.assert_array_equal(z["x"], x[np.newaxis])


def test_one_based_unsigned_labels_shift_without_overflow(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF212/positive")
    with np.load(folder / "train.npz") as z:
        x, y = z["x"], z["y"].astype(np.uint8)
    np.savez(folder / "train.npz", x=x, y=y)
    run_cli(["repair", "model.keras", "train.npz", "--out", str(tmp_path / "out")], 0, cwd=folder)
    with np.load(tmp_path / "out" / "train.npz") as z:
        assert z["y"].dtype == np.uint8
        np.testing.assert_array_equal(z["y"], y - 1)


def test_unreadable_files_are_left_for_the_exit_code(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF001/positive")
    outcome = run_cli(
        ["repair", "model.keras", "broken.npy", "train.npz", "--out", str(tmp_path / "o")],
        1,
        cwd=folder,
    )
    assert "broken.npy KF001 unreadable-data" in outcome.stdout


def test_a_record_missing_a_field_is_kf001_not_a_crash(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF401/positive")
    (folder / "m.jsonl").write_text('{"x": [1, 2], "y": 1}\n{"x": [3]}\n')
    outcome = run_cli(["diagnose", "model.keras", "m.jsonl"], 2, cwd=folder)
    assert "'y' missing from 1 of 2 records" in outcome.stderr


def test_verify_fit_of_a_model_holding_code_is_refused_before_writing(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF003/positive")
    np.savez(folder / "bad.npz", x=np.zeros((8, 6, 1), dtype=np.float32), y=np.zeros((8, 1)))
    out = tmp_path / "out"
    outcome = run_cli(
        ["repair", "model.keras", "bad.npz", "--out", str(out), "--verify-fit"], 2, cwd=folder
    )
    assert "--trust-model" in outcome.stderr
    assert not out.exists()


def test_rows_dropped_are_counted_per_array(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF221/negative")
    x = np.random.default_rng(0).random((8, 6), dtype=np.float32)
    y = np.random.default_rng(1).random((8, 1), dtype=np.float32)
    x[2, 0] = np.nan
    y[5, 0] = np.inf
    ids = np.arange(8)
    np.savez(folder / "train.npz", x=x, y=y, ids=ids)
    outcome = run_cli(
        [
            "repair",
            "model.keras",
            "train.npz",
            "--out",
            str(tmp_path / "o"),
            "--unsafe-fixes",
            "--format",
            "json",
        ],
        0,
        cwd=folder,
    )
    (entry,) = json.loads(outcome.stdout)["files"]
    assert entry["rows_dropped"] == {"x": 2, "y": 2, "ids": 2}
    with np.load(tmp_path / "o" / "train.npz") as z:
        np.testing.assert_array_equal(z["ids"], [0, 1, 3, 4, 6, 7])
        np.testing.assert_array_equal(z["x"], x[[0, 1, 3, 4, 6, 7]])


def test_float_token_values_keep_their_precision(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF401/positive")
    (folder / "f.jsonl").write_text('{"x": [0.7, 1.5], "y": 0}\n{"x": [2.25], "y": 1}\n')
    run_cli(["repair", "model.keras", "f.jsonl", "--out", str(tmp_path / "o")], None, cwd=folder)
    rows = [json.loads(line)["x"] for line in (tmp_path / "o" / "f.jsonl").read_text().splitlines()]
    assert rows == [[0.0, 0.0, 0.7, 1.5], [0.0, 0.0, 0.0, 2.25]]


def test_a_pad_value_int32_cannot_hold_is_refused(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF401/positive")
    outcome = run_cli(
        [
            "repair",
            "model.keras",
            "train.jsonl",
            "--out",
            str(tmp_path / "o"),
            "--pad-value",
            "1e12",
        ],
        2,
        cwd=folder,
    )
    assert "does not fit" in outcome.stderr


def test_sigterm_mid_write_leaves_no_partial_file(tmp_path: Path) -> None:
    folder = _case(tmp_path, "KF103/positive")
    big = np.zeros((120_000, 3, 8, 8), dtype=np.float32)  # about 90 MB to transpose
    np.savez(folder / "train.npz", x=big, y=np.zeros(120_000, dtype=np.int32))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kerasfix", "repair", "model.keras", "train.npz", "--out", str(out)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob(".kerasfix-*.part")):
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.skip("the repair finished before it could be interrupted")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert list(out.iterdir()) == []
