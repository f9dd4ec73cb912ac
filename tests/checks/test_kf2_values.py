"""Value rules over real scans of small files: the false positives and crashes found in review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerasfix.checks.base import ModelContext
from kerasfix.checks.kf2_values import (
    ValueContext,
    check_input_values,
    check_label_values,
    plan_for_input,
    plan_for_output,
)
from kerasfix.checks.kf6_model import check_loss_fits_output
from kerasfix.loaders import read_data_file
from kerasfix.model.config import contract_from_config
from kerasfix.model.contract import InputSpec, LossSpec, ModelContract, OutputSpec
from kerasfix.options import DiagnoseOptions
from kerasfix.stats import scan


def _ref(tmp: Path, array: np.ndarray[Any, Any]) -> Any:
    path = tmp / "a.npy"
    np.save(path, array)
    (ref,) = read_data_file(str(path)).arrays.values()
    return ref


def label_codes(tmp: Path, out: OutputSpec, y: np.ndarray[Any, Any]) -> list[str]:
    ref = _ref(tmp, y)
    plan = plan_for_output(out, ref)
    stats = scan(ref, plan) if plan else None
    contract = ModelContract("m", "keras", (), (out,))
    ctx = ValueContext(contract, DiagnoseOptions(), ref, stats, output=out)
    return [f.code for f in check_label_values(ctx)]


def test_recurrent_output_without_return_sequences_gives_its_last_step() -> None:
    def model(return_sequences: bool) -> dict[str, Any]:
        return {
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "layers": [
                    {
                        "module": "keras.layers",
                        "class_name": "InputLayer",
                        "config": {"batch_shape": [None, 6, 4], "name": "in"},
                    },
                    {
                        "module": "keras.layers",
                        "class_name": "LSTM",
                        "config": {
                            "name": "lstm",
                            "units": 3,
                            "return_sequences": return_sequences,
                        },
                        "build_config": {"input_shape": [None, 6, 4]},
                    },
                ]
            },
        }

    assert contract_from_config(model(False), path="m", fmt="keras").outputs[0].shape == (None, 3)
    assert contract_from_config(model(True), path="m", fmt="keras").outputs[0].shape == (None, 6, 3)


def test_per_step_labels_for_a_one_unit_sequence_output_are_fine(tmp_path: Path) -> None:
    out = OutputSpec("o", "Dense", (None, 6, 1), 1, "linear", LossSpec("mean_squared_error"))
    assert label_codes(tmp_path, out, np.zeros((8, 6), dtype=np.float32)) == []
    out = OutputSpec("o", "Dense", (None, 6, 1), 1, "sigmoid", LossSpec("binary_crossentropy"))
    assert label_codes(tmp_path, out, np.zeros((8, 6), dtype=np.float32)) == []


def test_legacy_h5_without_output_rank_does_not_judge_sequence_labels(tmp_path: Path) -> None:
    out = OutputSpec("o", "Dense", None, 5, "softmax", LossSpec("sparse_categorical_crossentropy"))
    assert label_codes(tmp_path, out, np.zeros((8, 6), dtype=np.int32)) == []


def test_ignored_label_value_is_not_out_of_range(tmp_path: Path) -> None:
    loss = LossSpec("sparse_categorical_crossentropy", ignore_class=-1)
    out = OutputSpec("o", "Dense", (None, 3), 3, "softmax", loss)
    y = np.array([0, 1, -1, 2, -1], dtype=np.int32)
    assert label_codes(tmp_path, out, y) == []
    assert label_codes(
        tmp_path,
        OutputSpec(
            "o", "Dense", (None, 3), 3, "softmax", LossSpec("sparse_categorical_crossentropy")
        ),
        y,
    ) == ["KF211"]


def test_scalar_labels_do_not_crash(tmp_path: Path) -> None:
    out = OutputSpec("o", "Dense", (None, 3), 3, "linear", LossSpec("mean_squared_error"))
    assert label_codes(tmp_path, out, np.array(3.0)) == []


def test_bool_onehot_labels_with_a_sparse_loss_are_kf213(tmp_path: Path) -> None:
    out = OutputSpec(
        "o", "Dense", (None, 5), 5, "softmax", LossSpec("sparse_categorical_crossentropy")
    )
    y = np.eye(5, dtype=bool)[np.arange(10) % 5]
    assert label_codes(tmp_path, out, y) == ["KF213"]


def test_earliest_out_of_range_label_is_named_first(tmp_path: Path) -> None:
    out = OutputSpec(
        "o", "Dense", (None, 3), 3, "softmax", LossSpec("sparse_categorical_crossentropy")
    )
    y = np.zeros(12, dtype=np.int32)
    y[3], y[10] = -1, 7
    ref = _ref(tmp_path, y)
    plan = plan_for_output(out, ref)
    assert plan is not None
    ctx = ValueContext(
        ModelContract("m", "keras", (), (out,)), DiagnoseOptions(), ref, scan(ref, plan), output=out
    )
    (finding,) = check_label_values(ctx)
    assert finding.details["first"] == [3]


def test_int64_extremes_are_exact(tmp_path: Path) -> None:
    inp = InputSpec("ids", (None, 2), "int64")
    ref = _ref(tmp_path, np.array([[0, 2**63 - 1]], dtype=np.int64))
    plan = plan_for_input(inp, ref, DiagnoseOptions())
    assert plan is not None
    stats = scan(ref, plan)
    assert stats.max == 2**63 - 1
    ctx = ValueContext(
        ModelContract("m", "keras", (inp,), ()), DiagnoseOptions(), ref, stats, input=inp
    )
    assert list(check_input_values(ctx)) == []


def test_two_softmax_units_with_binary_crossentropy_are_healthy() -> None:
    def codes(units: int) -> list[str]:
        out = OutputSpec(
            "o", "Dense", (None, units), units, "softmax", LossSpec("binary_crossentropy")
        )
        contract = ModelContract("m", "keras", (), (out,))
        return [f.code for f in check_loss_fits_output(ModelContext(contract, DiagnoseOptions()))]

    assert codes(2) == []
    assert codes(3) == ["KF602"]
