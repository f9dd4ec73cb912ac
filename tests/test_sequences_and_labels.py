"""Issue 14 through the real CLI and the loaders: sequences of feature vectors, label lists,
fit's default batch size, --oov-id, repairs that must end in data that fits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kerasfix.checks.base import GroupContext
from kerasfix.checks.kf3_batches import check_batches
from kerasfix.loaders import read_data_file
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.keys import Group, KeyOptions, map_arrays
from kerasfix.model.contract import InputSpec, ModelContract, OutputSpec
from kerasfix.options import DiagnoseOptions
from tests.conftest import FIXTURES, run_cli


def _jsonl(path: Path, records: list[object]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_feature_vector_sequences_are_read_as_steps_of_features(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "t.jsonl",
        [{"x": [[0.1, 0.2], [0.3, 0.4]], "y": 1}, {"x": [], "y": 0}, {"x": [[1, 2]], "y": 0}],
    )
    x = read_data_file(path).arrays["x"]
    assert (x.ragged, x.step_shape, x.shape, x.kind, x.row_length) == (True, (2,), (3,), "f", None)


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ([{"x": [[1, 2], [3]]}], "different numbers of features (1, 2)"),
        ([{"x": [[1, 2]]}, {"x": [[1, 2, 3]]}], "steps of 3 features, where line 1 has steps"),
        ([{"x": [[1, [2]]]}], "nested lists"),
        ([{"x": [1, [2]]}], "mixes numbers with lists"),
    ],
)
def test_steps_that_are_no_array_are_unreadable_with_the_reason(
    tmp_path: Path, records: list[object], reason: str
) -> None:
    error = read_data_file(_jsonl(tmp_path / "t.jsonl", records)).error
    assert error is not None and reason in error


def test_label_lists_of_one_length_are_one_array(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", [{"x": [1, 2], "y": [0, 1, 0]}, {"x": [3], "y": [1, 0, 0]}])
    file = read_data_file(path)
    contract = ModelContract(
        "m",
        "keras",
        (InputSpec("in", (None, 2), "float32"),),
        (OutputSpec("out", "Dense", (None, 3), 3, "softmax"),),
    )
    group = map_arrays(file, contract, KeyOptions())
    y = group.y["out"]
    assert (y.ragged, y.shape) == (False, (2, 3))
    assert file.arrays["y"] == y  # repair reads and writes them as rows too
    assert group.x["in"].ragged  # token lists stay sequences


def test_an_object_npy_of_2d_sequences_is_read_with_allow_pickle(tmp_path: Path) -> None:
    sequences = np.empty(2, dtype=object)
    sequences[0], sequences[1] = np.zeros((3, 4)), np.ones((5, 4))
    np.save(tmp_path / "x.npy", sequences, allow_pickle=True)
    assert read_data_file(str(tmp_path / "x.npy")).error is not None  # never unpickled unasked
    ref = read_data_file(str(tmp_path / "x.npy"), allow_pickle=True).arrays[""]
    assert (ref.ragged, ref.step_shape, ref.shape) == (True, (4,), (2,))


def _stateful(batch: int) -> ModelContract:
    return ModelContract(
        "m",
        "keras",
        (InputSpec("in", (batch, 5, 1), "float32", consumers=("LSTM",)),),
        (OutputSpec("out", "Dense", (batch, 1), 1, "sigmoid"),),
        stateful_layers=("lstm",),
    )


def _batch_findings(contract: ModelContract, samples: int, batch_size: int | None) -> list[str]:
    group = Group(path="d.npz", x={"in": ArrayRef("d.npz", "x", (samples, 5, 1), "float32", "f")})
    options = DiagnoseOptions(batch_size=batch_size)
    return [f"{f.code} {f.what}" for f in check_batches(GroupContext(contract, options, group))]


def test_a_stateful_model_checked_without_batch_size_assumes_fits_32() -> None:
    (finding,) = _batch_findings(_stateful(4), 12, None)
    assert finding.startswith("KF302 the stateful model takes batches of exactly 4")
    assert "fit's default batch_size=32 (assumed: no --batch-size given)" in finding
    assert _batch_findings(_stateful(4), 12, 4) == []
    assert _batch_findings(_stateful(32), 64, None) == []
    # Its own size must still divide the samples: both are said.
    assert [f[:5] for f in _batch_findings(_stateful(4), 10, None)] == ["KF302", "KF302"]


def test_fit_default_finding_lists_the_batch_size_that_works() -> None:
    contract = _stateful(4)
    group = Group(path="d.npz", x={"in": ArrayRef("d.npz", "x", (12, 5, 1), "float32", "f")})
    (finding,) = check_batches(GroupContext(contract, DiagnoseOptions(), group))
    assert finding.details["working_batch_sizes"] == [4]
    assert finding.details["assumed"] is True
    assert "model.fit(..., batch_size=4)" in finding.fix


def _copy(tmp_path: Path, case: str) -> tuple[Path, dict[str, object]]:
    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / case, folder)
    return folder, json.loads((folder / "case.json").read_text())


def test_oov_id_outside_the_vocabulary_is_a_usage_error(tmp_path: Path) -> None:
    folder, _ = _copy(tmp_path, "oov/jsonl-past-vocabulary")
    args = ["repair", "model.keras", "train.jsonl", "--out", str(tmp_path / "out")]
    outcome = run_cli([*args, "--oov-id", "10", "--unsafe-fixes"], 2, cwd=folder)
    assert "--oov-id 10 is not an id Embedding 'embedding' can look up" in outcome.stderr
    # Without --unsafe-fixes the mapping is planned, not applied.
    outcome = run_cli([*args, "--oov-id", "1", "--dry-run"], 1, cwd=folder)
    assert "KF201 map_oov(input_dim=10, oov_id=1)" in outcome.stdout
    assert "skipped (unsafe" in outcome.stdout


def test_oov_id_maps_ids_in_a_jsonl_and_keeps_the_rest(tmp_path: Path) -> None:
    folder, _ = _copy(tmp_path, "oov/jsonl-past-vocabulary")
    out = tmp_path / "out"
    args = ["repair", "model.keras", "train.jsonl", "--out", str(out), "--oov-id", "1"]
    run_cli([*args, "--unsafe-fixes"], 0, cwd=folder)
    before = [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines()]
    after = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [r["x"] for r in after] == [[1 if t >= 10 else t for t in r["x"]] for r in before]
    assert [r["y"] for r in after] == [r["y"] for r in before]
    manifest = json.loads((out / "kerasfix-repair.json").read_text())
    (action,) = manifest["files"][0]["actions"]
    assert action["lost"] == {"ids_mapped": 1}


def test_a_repair_whose_output_still_does_not_fit_says_so_and_fails(tmp_path: Path) -> None:
    folder, _ = _copy(tmp_path, "images/folder-still-unfit")
    args = ["repair", "model.keras", "images", "--color-mode", "grayscale", "--unsafe-fixes"]
    outcome = run_cli([*args, "--out", str(tmp_path / "out")], 1, cwd=folder)
    assert "KF504 convert_images" in outcome.stdout
    assert "failed: the repaired data still does not fit the model:" in outcome.stdout
    assert "images::x KF107 feature-mismatch" in outcome.stdout
    manifest = json.loads((tmp_path / "out" / "kerasfix-repair.json").read_text())
    assert manifest["verification"]["fits_model"] is False
    assert {left["code"] for left in manifest["verification"]["not_fitting"]} == {"KF107"}


@pytest.mark.tensorflow
def test_a_patched_length_pads_to_the_longest_instead_of_cutting(tmp_path: Path) -> None:
    # KF402's lossless fix opens the input length: KF401's padding then goes to the
    # longest sequence (8 steps), not to the old length (5), which would cut what it keeps.
    folder, _ = _copy(tmp_path, "sequences/features-too-long")
    out = tmp_path / "out"
    run_cli(
        ["repair", "model.keras", "train.jsonl", "--out", str(out), "--verify-fit"], 0, cwd=folder
    )
    rows = [json.loads(line)["x"] for line in (out / "train.jsonl").read_text().splitlines()]
    assert {len(r) for r in rows} == {8}
    manifest = json.loads((out / "kerasfix-repair.json").read_text())
    assert manifest["model_patch"]["actions"][0]["params"]["batch_shape"] == [None, None, 2]
    assert manifest["verify_fit"]["status"] == "pass"
