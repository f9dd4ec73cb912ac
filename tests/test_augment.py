"""--augment: the user's function runs only when asked, over seeded draws; failures are findings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, run_cli, run_subprocess

CASE = FIXTURES / "KF502" / "negative"  # Conv2D on (None, 8, 8, 3), train.npz


def _setup(tmp_path: Path, source: str) -> Path:
    shutil.copy(CASE / "model.keras", tmp_path / "model.keras")
    shutil.copy(CASE / "train.npz", tmp_path / "train.npz")
    (tmp_path / "aug.py").write_text(source)
    return tmp_path


def _findings(stdout: str) -> list[dict[str, Any]]:
    report = json.loads(stdout)
    return [f for r in report["results"] for f in r["findings"]]


CANARY = """\
import pathlib

pathlib.Path(__file__).with_name("imported").write_text("yes")


def augment(x, y):
    pathlib.Path(__file__).with_name("called").write_text("yes")
    return x, y
"""


def test_user_code_runs_only_with_augment(tmp_path: Path) -> None:
    folder = _setup(tmp_path, CANARY)
    run_cli(["diagnose", "model.keras", "train.npz"], expected_code=0, cwd=folder)
    assert not (folder / "imported").exists() and not (folder / "called").exists()
    run_cli(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment"],
        expected_code=0,
        cwd=folder,
    )
    assert (folder / "imported").exists() and (folder / "called").exists()


RAISES = """\
import numpy as np


def augment(x, y):
    if np.random.random() < 0.5:
        raise ValueError("cannot rotate a batch of " + str(len(x)))
    return x, y
"""


def test_a_function_that_raises_is_a_finding_naming_the_draw(tmp_path: Path) -> None:
    folder = _setup(tmp_path, RAISES)
    outcome = run_subprocess(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment", "--format", "json"],
        cwd=folder,
    )
    assert outcome.returncode == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr
    (finding,) = _findings(outcome.stdout)
    assert finding["code"] == "KF502"
    assert "failed on draw 1 of 8 (seed 1, batch (16, 8, 8, 3))" in finding["what"]
    assert "ValueError: cannot rotate a batch of 16" in finding["what"]


def test_draws_are_seeded_and_counted(tmp_path: Path) -> None:
    folder = _setup(tmp_path, RAISES)
    args = ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment"]
    first = run_cli([*args, "--draws", "20", "--format", "json"], expected_code=1, cwd=folder)
    again = run_cli([*args, "--draws", "20", "--format", "json"], expected_code=1, cwd=folder)
    assert first.stdout == again.stdout
    assert " of 20 draws failed" in _findings(first.stdout)[0]["what"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("aug.py", "expected FILE.py:FUNCTION"),
        ("missing.py:augment", "no such file"),
        ("aug.py:nothing", "defines no function 'nothing'"),
        ("broken.py:augment", "importing broken.py failed: SyntaxError"),
    ],
)
def test_a_bad_augment_spec_is_one_line_and_exit_2(tmp_path: Path, spec: str, message: str) -> None:
    folder = _setup(tmp_path, CANARY)
    (folder / "broken.py").write_text("def augment(x, y):\n    return (x, y\n")
    outcome = run_subprocess(
        ["diagnose", "model.keras", "train.npz", "--augment", spec], cwd=folder
    )
    assert outcome.returncode == 2
    assert message in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1


def test_changing_the_sample_count_is_misalignment(tmp_path: Path) -> None:
    folder = _setup(tmp_path, "def augment(x, y):\n    return x[:-1], y[:-1]\n")
    outcome = run_cli(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment", "--format", "json"],
        expected_code=1,
        cwd=folder,
    )
    (finding,) = _findings(outcome.stdout)
    assert finding["code"] == "KF503"
    assert "turns a batch of 16 samples into 15" in finding["what"]


IMAGE_ARGS = ["diagnose", "model.keras", "images", "--image-size", "8x8", "--format", "json"]


def test_augmentation_runs_on_image_folders(tmp_path: Path) -> None:
    source = FIXTURES / "KF504" / "negative"
    shutil.copy(source / "model.keras", tmp_path / "model.keras")
    shutil.copytree(source / "images", tmp_path / "images")
    (tmp_path / "aug.py").write_text("def augment(x, y):\n    return x[:, :6], y\n")
    outcome = run_cli(
        [*IMAGE_ARGS, "--augment", "aug.py:augment"],
        expected_code=1,
        cwd=tmp_path,
    )
    (finding,) = _findings(outcome.stdout)
    assert finding["code"] == "KF502"
    assert "(4, 6, 8, 3)" in finding["what"]


@pytest.mark.parametrize(
    ("case", "codes"),
    [("augment/healthy", set()), ("augment/model-random-crop", {"KF502"})],
)
def test_augment_fixtures_yield_exactly_their_codes(case: str, codes: set[str]) -> None:
    # The goldens are checked against the real CLI by tests/test_fixtures.py.
    expected = json.loads((FIXTURES / case / "expected.json").read_text())
    assert {f["code"] for r in expected["results"] for f in r["findings"]} == codes


def test_prints_and_exits_in_user_code_leave_the_report_intact(tmp_path: Path) -> None:
    source = 'print("hello")\n\n\ndef augment(x, y):\n    print("draw")\n    raise SystemExit(3)\n'
    folder = _setup(tmp_path, source)
    outcome = run_subprocess(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment", "--format", "json"],
        cwd=folder,
    )
    assert outcome.returncode == 1
    (finding,) = _findings(outcome.stdout)  # stdout is the JSON report alone
    assert finding["code"] == "KF502"
    assert "SystemExit: 3" in finding["what"]
    assert "hello" in outcome.stderr


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return 1.0, y", "returned a scalar x"),
        ("return x, 1.0", "returned a scalar y"),
        ("return Bad(), y", "returned values numpy cannot read: RuntimeError: no array"),
        ("return Quits(), y", "returned values numpy cannot read: SystemExit: 4"),
    ],
)
def test_returns_numpy_cannot_batch_are_findings_not_crashes(
    tmp_path: Path, body: str, message: str
) -> None:
    source = (
        "class Bad:\n    def __array__(self, *a, **k):\n        raise RuntimeError('no array')\n"
        "\n\nclass Quits:\n    def __array__(self, *a, **k):\n        raise SystemExit(4)\n"
        f"\n\ndef augment(x, y):\n    {body}\n"
    )
    folder = _setup(tmp_path, source)
    outcome = run_subprocess(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment", "--format", "json"],
        cwd=folder,
    )
    assert outcome.returncode == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr
    (finding,) = _findings(outcome.stdout)
    assert finding["code"] == "KF502"
    assert message in finding["what"]


def test_an_identity_augmentation_on_a_multi_input_model_is_clean(tmp_path: Path) -> None:
    source = FIXTURES / "multi" / "by-name"
    shutil.copy(source / "model.keras", tmp_path / "model.keras")
    shutil.copy(source / "train.npz", tmp_path / "train.npz")
    (tmp_path / "aug.py").write_text("def augment(x, y):\n    return x, y\n")
    outcome = run_cli(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment", "--format", "json"],
        expected_code=0,
        cwd=tmp_path,
    )
    assert _findings(outcome.stdout) == []


def test_cropping_images_with_one_hot_labels_is_not_a_time_shift(tmp_path: Path) -> None:
    import numpy as np

    folder = _setup(tmp_path, "def augment(x, y):\n    return x[:, 1:7, 1:7], y\n")
    x = np.zeros((16, 8, 8, 3), np.float32)
    np.savez(folder / "train.npz", x=x, y=np.eye(8, dtype=np.float32)[np.arange(16) % 8])
    outcome = run_cli(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment", "--format", "json"],
        expected_code=1,
        cwd=folder,
    )
    codes = {f["code"] for f in _findings(outcome.stdout)}
    assert "KF502" in codes and "KF503" not in codes


def test_a_missing_augment_file_is_reported_before_the_data_is_read(tmp_path: Path) -> None:
    folder = _setup(tmp_path, CANARY)
    outcome = run_subprocess(
        ["diagnose", "model.keras", "no-such-data", "--augment", "missing.py:augment"],
        cwd=folder,
    )
    assert outcome.returncode == 2
    assert outcome.stderr.strip().splitlines() == [
        "kerasfix: error: --augment missing.py:augment: no such file missing.py"
    ]


DATACLASS = """\
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Crop:
    size: int = 8


def augment(x, y):
    return x[:, : Crop().size], y
"""


def test_a_module_defining_dataclasses_can_be_imported(tmp_path: Path) -> None:
    folder = _setup(tmp_path, DATACLASS)
    run_cli(
        ["diagnose", "model.keras", "train.npz", "--augment", "aug.py:augment"],
        expected_code=0,
        cwd=folder,
    )


def test_ctrl_c_stops_before_the_augmentation_runs(tmp_path: Path) -> None:
    import signal

    from tests.test_folders import MODEL as LSTM
    from tests.test_folders import _held, _kerasfix, _shards

    data = tmp_path / "data"
    _shards(data, 2)
    (tmp_path / "aug.py").write_text(CANARY)
    with _held(data / "zz-held.npz") as reader_blocked:
        proc = _kerasfix(
            "diagnose",
            LSTM,
            str(data),
            "--augment",
            "aug.py:augment",
            "--jobs",
            "1",
            cwd=tmp_path,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        reader_blocked()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not (tmp_path / "imported").exists() and not (tmp_path / "called").exists()
