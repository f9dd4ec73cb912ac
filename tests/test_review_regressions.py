"""Regressions from the first review: each test names the behaviour it pins down."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from kerasfix.checks.base import GroupContext, InputContext
from kerasfix.checks.kf1_shapes import check_input_shape
from kerasfix.checks.kf3_batches import check_batches
from kerasfix.findings import Applicability, Severity
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.keys import Group
from kerasfix.model.config import contract_from_config
from kerasfix.model.contract import InputSpec, ModelContract
from kerasfix.options import DiagnoseOptions
from tests.conftest import FIXTURES, run_cli, run_subprocess

LSTM = FIXTURES / "KF001" / "negative" / "model.keras"  # Input (10, 3) -> LSTM, sigmoid


def test_damaged_compressed_npz_is_kf001_not_a_crash(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=np.zeros((16, 10, 3), dtype=np.float32))
    raw = bytearray(good.read_bytes())
    raw[120:160] = b"\xff" * 40  # inside the deflate stream of the only member
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    done = run_subprocess(["diagnose", str(LSTM), str(bad), str(good), "--format", "json"])
    assert done.returncode == 1, done.stderr
    codes = {
        Path(r["path"]).name: [f["code"] for f in r["findings"]]
        for r in json.loads(done.stdout)["results"]
    }
    assert codes["bad.npz"] == ["KF001"]


def test_labels_without_inputs_is_kf002(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, a=np.zeros((4, 10, 3)), b=np.zeros((4, 10, 3)), y=np.zeros(4))
    outcome = run_cli(["diagnose", str(LSTM), str(path)], 1)
    assert "KF002" in outcome.stdout
    outcome = run_cli(["diagnose", str(LSTM), str(path), "--x", "imagez"], 1)
    assert "KF002" in outcome.stdout


def test_folder_without_data_files_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    outcome = run_cli(["diagnose", str(LSTM), str(tmp_path)], 2)
    assert "no DATA found" in outcome.stderr


def test_npz_with_a_non_array_member_reads_the_arrays(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((16, 10, 3), dtype=np.float32), y=np.zeros(16, dtype=np.int32))
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("README.txt", "made by hand")
    run_cli(["diagnose", str(LSTM), str(path)], 0)


def test_nested_hdf5_keys_map_by_their_last_name(tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["train/x"] = np.zeros((16, 10, 3), dtype=np.float32)
        f["train/y"] = np.zeros(16, dtype=np.int32)
    outcome = run_cli(["diagnose", str(LSTM), str(path), "--format", "json"], 0)
    keys = {r["key"]: r["role"] for r in json.loads(outcome.stdout)["results"]}
    assert keys == {"train/x": "x", "train/y": "y"}


def _seq(layer: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 5, 4], "name": "input_layer"},
                },
                layer,
            ]
        },
    }


def test_custom_layer_inside_a_wrapper_is_kf003() -> None:
    wrapped = {
        "module": "keras.layers",
        "class_name": "TimeDistributed",
        "config": {"name": "td", "layer": {"class_name": "MyLayer", "config": {"name": "mine"}}},
    }
    contract = contract_from_config(_seq(wrapped), path="m", fmt="h5")
    assert [u.class_name for u in contract.unsafe_layers] == ["MyLayer"]


def test_builtin_loss_function_is_safe_a_user_function_is_not() -> None:
    config = _seq(
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 1}}
    )
    builtin = {
        "module": "builtins",
        "class_name": "function",
        "config": "binary_crossentropy",
        "registered_name": "function",
    }
    contract = contract_from_config(
        {**config, "compile_config": {"loss": builtin}}, path="m", fmt="keras"
    )
    assert contract.unsafe_layers == ()
    mine = {**builtin, "config": "my_loss"}
    contract = contract_from_config(
        {**config, "compile_config": {"loss": mine}}, path="m", fmt="keras"
    )
    assert [u.reason for u in contract.unsafe_layers] == [
        "it is the function 'my_loss', which is not a Keras built-in"
    ]


def test_dict_outputs_are_named_by_their_keys_and_keep_their_losses() -> None:
    config = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "in",
                    "inbound_nodes": [],
                    "module": "keras.layers",
                    "config": {"batch_shape": [None, 3], "name": "in"},
                },
                {
                    "class_name": "Dense",
                    "name": "dense_1",
                    "module": "keras.layers",
                    "config": {"name": "dense_1", "units": 1, "activation": "sigmoid"},
                    "inbound_nodes": [
                        {
                            "args": [
                                {
                                    "class_name": "__keras_tensor__",
                                    "config": {"keras_history": ["in", 0, 0]},
                                }
                            ]
                        }
                    ],
                },
            ],
            "input_layers": [["in", 0, 0]],
            "output_layers": {"is_spam": ["dense_1", 0, 0]},
        },
    }
    contract = contract_from_config(
        config, path="m", fmt="keras", loss_config={"is_spam": "binary_crossentropy"}
    )
    (out,) = contract.outputs
    assert out.name == "is_spam"
    assert out.loss is not None and out.loss.name == "binary_crossentropy"


def _contract(
    batch_shape: tuple[int | None, ...],
    consumers: tuple[str, ...] = ("LSTM",),
    fmt: str = "keras",
    version: str | None = "3.15.1",
    stateful: tuple[str, ...] = (),
) -> tuple[ModelContract, InputSpec]:
    inp = InputSpec("input_layer", batch_shape, "float32", (), consumers)
    return ModelContract("m", fmt, (inp,), (), stateful, keras_version=version), inp


def _shape_codes(contract: ModelContract, inp: InputSpec, data: tuple[int, ...]) -> list[Any]:
    ref = ArrayRef("d.npy", None, data, "float32", "f")
    return [
        (f.code, f.severity, f.applicability)
        for f in check_input_shape(InputContext(contract, DiagnoseOptions(), ref, inp))
    ]


def test_missing_trailing_axis_is_an_error_for_savedmodels_and_keras2_models() -> None:
    for fmt, version in (("savedmodel", None), ("h5", "2.15.0")):
        contract, inp = _contract((None, 10, 1), fmt=fmt, version=version)
        assert _shape_codes(contract, inp, (5, 10)) == [
            ("KF101", Severity.ERROR, Applicability.SAFE)
        ]


def test_a_whole_flat_array_is_never_reshaped_automatically() -> None:
    contract, inp = _contract((None, 10, 1))
    assert _shape_codes(contract, inp, (7840,)) == [("KF104", Severity.ERROR, Applicability.NONE)]


def test_timedistributed_time_axis_is_a_length() -> None:
    contract, inp = _contract((None, 5, 8, 8, 1), consumers=("TimeDistributed",))
    assert [c for c, _, _ in _shape_codes(contract, inp, (4, 6, 8, 8, 1))] == ["KF105"]


def test_fixed_batch_remainder_is_a_warning_unless_stateful() -> None:
    for stateful, severity in (((), Severity.WARNING), (("lstm",), Severity.ERROR)):
        contract, _ = _contract((8, 10, 1), stateful=stateful)
        ref = ArrayRef("d.npy", None, (10, 10, 1), "float32", "f")
        group = Group(path="d.npy", x={"input_layer": ref})
        # Trained with the model's own batch size (fit's default 32 is another finding).
        options = DiagnoseOptions(batch_size=8)
        (finding,) = check_batches(GroupContext(contract, options, group))
        assert (finding.code, finding.severity) == ("KF302", severity)


def test_select_accepts_every_code_of_the_contract() -> None:
    folder = FIXTURES / "KF107" / "positive"
    run_cli(
        ["diagnose", "model.h5", "x.npy", "--ignore", "KF5", "--select", "KF107"], 1, cwd=folder
    )
    run_cli(["diagnose", "model.h5", "x.npy", "--select", "KF503"], 0, cwd=folder)


def test_stateful_remainder_lists_the_batch_sizes_that_divide_the_data() -> None:
    from kerasfix.checks.kf3_batches import dividing_batch_sizes

    assert dividing_batch_sizes(1000, 32) == [8, 10, 20, 25, 40, 50]
    contract, _ = _contract((32, 10, 1), stateful=("lstm",))
    ref = ArrayRef("d.npy", None, (1000, 10, 1), "float32", "f")
    group = Group(path="d.npy", x={"input_layer": ref})
    (finding,) = check_batches(GroupContext(contract, DiagnoseOptions(), group))
    assert "drop the last 8 samples" in finding.fix
    assert "divides 1000: 8, 10, 20, 25, 40, 50" in finding.fix
