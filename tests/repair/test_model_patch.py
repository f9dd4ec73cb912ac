"""Repairing the model: patched inputs, batch sizes and losses, decided by Keras, weights kept."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.tensorflow


def _keras() -> Any:
    from kerasfix.model.trace import keras_module

    return keras_module()


def _load(path: Path) -> Any:
    keras = _keras()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.models.load_model(path)


def _case(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "in"
    shutil.copytree(FIXTURES / "patch" / name, folder)
    return folder


def test_length_patch_keeps_outputs_trains_and_truncates_nothing(tmp_path: Path) -> None:
    folder = _case(tmp_path, "length")
    out = tmp_path / "out"
    outcome = run_cli(
        [
            "repair",
            "model.keras",
            "train.npz",
            "--out",
            str(out),
            "--verify-fit",
            "--format",
            "json",
        ],
        0,
        cwd=folder,
    )
    manifest = json.loads(outcome.stdout)
    assert manifest["files"] == []  # no data written: nothing truncated
    (action,) = manifest["model_patch"]["actions"]
    assert action["code"] == "KF105" and action["params"]["batch_shape"] == [None, None]
    assert manifest["verify_fit"]["status"] == "pass"
    original, patched = _load(folder / "model.keras"), _load(out / "model.keras")
    assert tuple(patched.inputs[0].shape) == (None, None)
    x20 = np.random.default_rng(0).integers(0, 10, (4, 20)).astype("int32")
    np.testing.assert_allclose(
        original.predict(x20, verbose=0), patched.predict(x20, verbose=0), atol=1e-6
    )
    with np.load(folder / "train.npz") as z:
        assert patched.predict(z["x"], verbose=0).shape == (8, 1)
    report = json.loads(
        run_cli(
            ["diagnose", str(out / "model.keras"), "train.npz", "--format", "json"], 0, cwd=folder
        ).stdout
    )
    assert report["summary"]["errors"] == 0


def test_flatten_size_cannot_be_patched_and_names_the_dense_layer(tmp_path: Path) -> None:
    folder = _case(tmp_path, "size-flatten")
    report = json.loads(
        run_cli(["diagnose", "model.h5", "train.npz", "--format", "json"], 1, cwd=folder).stdout
    )
    (finding,) = [f for r in report["results"] for f in r["findings"]]
    patch = finding["details"]["model_patch"]
    assert finding["code"] == "KF106" and not patch["patchable"]
    assert patch["layer"] == "dense" and "Dense 'dense'" in patch["reason"]
    assert "cannot be patched" in finding["fix"]
    outcome = run_cli(
        ["repair", "model.h5", "train.npz", "--out", str(tmp_path / "out"), "--prefer", "model"],
        1,
        cwd=folder,
    )
    assert (
        "KF106 size-mismatch" in outcome.stdout and not (tmp_path / "out" / "model.keras").exists()
    )


def test_global_pooling_size_gets_a_patched_input(tmp_path: Path) -> None:
    folder = _case(tmp_path, "size-gap")
    out = tmp_path / "out"
    run_cli(
        ["repair", "model.keras", "train.npz", "--out", str(out), "--verify-fit"], 0, cwd=folder
    )
    original, patched = _load(folder / "model.keras"), _load(out / "model.keras")
    assert tuple(patched.inputs[0].shape) == (None, None, None, 1)
    x8 = np.random.default_rng(1).random((3, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(
        original.predict(x8, verbose=0), patched.predict(x8, verbose=0), atol=1e-6
    )
    with np.load(folder / "train.npz") as z:
        assert patched.predict(z["x"], verbose=0).shape == (12, 3)


def test_prefer_model_switches_to_the_sparse_loss_with_the_same_weights(tmp_path: Path) -> None:
    folder = _case(tmp_path, "loss")
    out = tmp_path / "out"
    run_cli(
        ["repair", "model.keras", "train.npz", "--out", str(out), "--prefer", "model"],
        0,
        cwd=folder,
    )
    original, patched = _load(folder / "model.keras"), _load(out / "model.keras")
    assert "sparse_categorical_crossentropy" in str(patched.loss)
    for a, b in zip(original.get_weights(), patched.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The data needed no change: carried as it is (the same file), not rewritten.
    assert os.path.samefile(out / "train.npz", folder / "train.npz")
    with np.load(folder / "train.npz") as z:
        patched.fit(z["x"], z["y"], epochs=1, verbose=0)


def test_prefer_data_keeps_the_model_and_encodes_the_labels(tmp_path: Path) -> None:
    folder = _case(tmp_path, "loss")
    out = tmp_path / "out"
    run_cli(
        ["repair", "model.keras", "train.npz", "--out", str(out), "--prefer", "data"], 0, cwd=folder
    )
    assert not (out / "model.keras").exists()
    with np.load(out / "train.npz") as z:
        assert z["y"].shape == (12, 3)


def test_fixed_batch_size_patched_to_none(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(FIXTURES / "KF304" / "positive", folder)
    run_cli(["repair", "model.keras", "train.npz", "--out", str(tmp_path / "out")], 0, cwd=folder)
    patched = _load(tmp_path / "out" / "model.keras")
    assert patched.inputs[0].shape[0] is None


def test_a_lambda_model_never_runs_without_trust_model(tmp_path: Path) -> None:
    keras = _keras()
    marker = tmp_path / "lambda-ran"
    code = f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]"
    inp = keras.Input(shape=(20,), dtype="int32")
    hidden = keras.layers.Embedding(10, 2)(inp)
    hidden = keras.layers.Lambda(eval(code))(hidden)
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(hidden)))
    model.compile(loss="mse")
    model.save(tmp_path / "lambda.keras")
    marker.unlink()  # building the model above ran it once
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 35), dtype=np.int32), y=np.zeros((4, 1)))
    run_cli(["diagnose", str(tmp_path / "lambda.keras"), str(tmp_path / "d.npz")], None)
    refused = run_cli(
        [
            "repair",
            str(tmp_path / "lambda.keras"),
            str(tmp_path / "d.npz"),
            "--out",
            str(tmp_path / "o"),
            "--prefer",
            "model",
            "--verify-fit",
        ],
        2,
    )
    assert "--trust-model" in refused.stderr
    assert not marker.exists(), "kerasfix ran the Lambda's code without --trust-model"
    assert not (tmp_path / "o").exists()


def test_grown_embedding_keeps_old_rows_and_is_unsafe(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(FIXTURES / "KF201" / "positive", folder)
    out = tmp_path / "out"
    skipped = run_cli(["repair", "model.keras", "x.npy", "--out", str(out)], 1, cwd=folder)
    assert "KF201 grow_embedding(input_dim=11" in skipped.stdout
    assert not (out / "model.keras").exists()
    run_cli(
        ["repair", "model.keras", "x.npy", "--out", str(out), "--unsafe-fixes", "--verify-fit"],
        0,
        cwd=folder,
    )
    original, patched = _load(folder / "model.keras"), _load(out / "model.keras")
    old = original.get_layer("embedding").get_weights()[0]
    new = patched.get_layer("embedding").get_weights()[0]
    assert old.shape == (10, 32) and new.shape == (11, 32)
    np.testing.assert_array_equal(new[:10], old)
    x = np.array([[1, 2, 3, 0]], dtype=np.int32)
    np.testing.assert_allclose(
        original.predict(x, verbose=0), patched.predict(x, verbose=0), atol=1e-6
    )


def test_a_reshape_that_builds_but_cannot_run_is_not_patched(tmp_path: Path) -> None:
    keras = _keras()
    model = keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            keras.layers.Embedding(50, 8),
            keras.layers.Reshape((160,)),
            keras.layers.Dense(3),
        ]
    )
    model.compile(loss="mse")
    model.save(tmp_path / "reshape.keras")
    np.savez(tmp_path / "d.npz", x=np.ones((4, 35), dtype=np.int32), y=np.zeros((4, 3)))
    report = json.loads(
        run_cli(
            [
                "diagnose",
                str(tmp_path / "reshape.keras"),
                str(tmp_path / "d.npz"),
                "--format",
                "json",
            ],
            1,
        ).stdout
    )
    (finding,) = [f for r in report["results"] for f in r["findings"]]
    assert finding["code"] == "KF105" and not finding["details"]["model_patch"]["patchable"]
    run_cli(
        [
            "repair",
            str(tmp_path / "reshape.keras"),
            str(tmp_path / "d.npz"),
            "--out",
            str(tmp_path / "o"),
            "--prefer",
            "model",
        ],
        1,
    )
    assert not (tmp_path / "o" / "model.keras").exists()


def test_dict_outputs_with_loss_weights_keep_their_compile_settings(tmp_path: Path) -> None:
    keras = _keras()
    inp = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(4)(inp)
    model = keras.Model(
        inp,
        {
            "cls": keras.layers.Dense(3, activation="softmax", name="cls")(hidden),
            "reg": keras.layers.Dense(1, name="reg")(hidden),
        },
    )
    model.compile(
        loss={"cls": "categorical_crossentropy", "reg": "mse"},
        loss_weights={"cls": 1.0, "reg": 0.1},
        metrics={"cls": ["accuracy"]},
    )
    model.save(tmp_path / "multi.keras")
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz",
        x=rng.random((8, 6), dtype=np.float32),
        cls=(np.arange(8) % 3).astype(np.int32),
        reg=rng.random((8, 1), dtype=np.float32),
    )
    run_cli(
        [
            "repair",
            str(tmp_path / "multi.keras"),
            str(tmp_path / "d.npz"),
            "--out",
            str(tmp_path / "o"),
            "--prefer",
            "model",
        ],
        0,
    )
    config = json.loads(
        __import__("zipfile").ZipFile(tmp_path / "o" / "model.keras").read("config.json")
    )
    compiled = config["compile_config"]
    assert compiled["loss_weights"] == {"cls": 1.0, "reg": 0.1}
    assert "sparse_categorical_crossentropy" in json.dumps(compiled["loss"]["cls"])
    assert compiled["metrics"] is not None
