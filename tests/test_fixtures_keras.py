"""The issue-14 fixtures verified with real Keras: training on each case's data as the case
describes fails (positive), trains (negative), or trains silently wrong (a documented silent
case, which diagnose reports); and every repair of them ends in data (or a model) that trains
one step, as `--verify-fit` says, or exits 1 where no automatic fix exists."""

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

CASES = sorted(
    p.parent for p in FIXTURES.glob("**/case.json") if "keras" in json.loads(p.read_text())
)
IDS = [str(p.relative_to(FIXTURES)) for p in CASES]
FIT_DEFAULT_BATCH_SIZE = 32
CHANNEL_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


@pytest.fixture(scope="module")
def keras() -> Any:
    from kerasfix.model.quiet import import_keras

    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return import_keras()


def _arg(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _as_fed(values: list[Any]) -> Any:
    """Python lists as a user hands them to fit: one array where numpy makes one."""
    try:
        return np.asarray(values)
    except ValueError:  # ragged: Keras gets the lists
        return values


def _loss_name(model: Any) -> str:
    return str(getattr(model.loss, "name", model.loss))


def _channels_first(model: Any) -> bool:
    return any(getattr(layer, "data_format", None) == "channels_first" for layer in model.layers)


def _training_data(keras: Any, model: Any, folder: Path, case: dict[str, Any]) -> dict[str, Any]:
    """The case's data as a training script feeds it to `fit`: arrays by key, `.jsonl`
    records as lists, an image folder through image_dataset_from_directory called with the
    case's flags, or where they are not given, the model's own input size, channels, layout
    and (for a categorical loss) one-hot labels: what kerasfix assumes, and says."""
    (name,) = case["data"]
    path = folder / name
    args = case["args"]
    batch = int(_arg(args, "--batch-size") or FIT_DEFAULT_BATCH_SIZE)
    if path.is_dir():
        shape = tuple(model.inputs[0].shape)
        first = _channels_first(model)
        channels, height, width = shape[1:4] if first else (shape[3], *shape[1:3])
        size = _arg(args, "--image-size")
        image_size = tuple(int(d) for d in size.split("x")) if size else (height, width)
        dataset = keras.utils.image_dataset_from_directory(
            str(path),
            image_size=image_size,
            color_mode=_arg(args, "--color-mode") or CHANNEL_MODES[channels],
            data_format="channels_first" if first else None,
            label_mode="categorical" if _loss_name(model).startswith("categorical") else "int",
            batch_size=batch,
            shuffle=False,
            verbose=False,
        )
        return {"x": dataset}
    if name.endswith(".jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines() if line]
        x = _as_fed([r["x"] for r in records])
        y = _as_fed([r["y"] for r in records])
    else:
        arrays = np.load(path, allow_pickle="--allow-pickle" in args)
        x, y = arrays["x"], arrays["y"]
    return {"x": x, "y": y, "batch_size": batch}


def _load(keras: Any, folder: Path, case: dict[str, Any]) -> Any:
    """The saved model, compiled as saved with a fresh optimizer of the saved kind (the
    restored one is bound to the saved variables), as --verify-fit does."""
    keras.backend.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unbuilt optimizer's slots are skipped: expected
        model = keras.saving.load_model(folder / case["model"])
    model.compile(
        optimizer=type(model.optimizer).from_config(model.optimizer.get_config()), loss=model.loss
    )
    return model


def _train_one_step(keras: Any, model: Any, data: dict[str, Any]) -> None:
    try:
        model.fit(**data, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    except Exception as exc:
        if "only supports NHWC" not in str(exc):
            raise
        # channels_first: TensorFlow's CPU kernels without oneDNN train NHWC only; XLA (what
        # --verify-fit falls back to) trains NCHW on the CPU too.
        optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
        model.compile(optimizer=optimizer, loss=model.loss, jit_compile=True)
        model.fit(**data, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)


@pytest.mark.parametrize("folder", CASES, ids=IDS)
def test_keras_agrees_with_the_fixture(keras: Any, folder: Path) -> None:
    case = json.loads((folder / "case.json").read_text())
    assert case["keras"] in ("fails", "trains", "silent")
    model = _load(keras, folder, case)
    if case["keras"] == "fails":
        assert case["codes"], "a case Keras fails on must be reported"
        data = _training_data(keras, model, folder, case)  # a harness error is not Keras's
        with pytest.raises(Exception):  # noqa: B017 - Keras raises many types
            _train_one_step(keras, model, data)
    else:
        _train_one_step(keras, model, _training_data(keras, model, folder, case))
        # A silent case trains, and is reported all the same; a negative reports nothing.
        assert bool(case["codes"]) == (case["keras"] == "silent")


REPAIRED = [
    (p, i)
    for p, i in zip(CASES, IDS, strict=True)
    if "repair" in json.loads((p / "case.json").read_text())
]


@pytest.mark.parametrize("folder", [p for p, _ in REPAIRED], ids=[i for _, i in REPAIRED])
def test_repair_ends_in_data_that_trains(tmp_path: Path, folder: Path) -> None:
    case = json.loads((folder / "case.json").read_text())
    extra, expect = case["repair"]
    work = tmp_path / "case"
    shutil.copytree(folder, work)
    out = tmp_path / "out"
    outcome = run_cli(
        [
            "repair",
            case["model"],
            *case["data"],
            *case["args"],
            *extra,
            "--out",
            str(out),
            "--verify-fit",
            "--format",
            "json",
        ],
        0 if expect == "trains" else 1,
        cwd=work,
    )
    manifest = json.loads(outcome.stdout)
    if expect == "trains":
        assert manifest["verify_fit"]["status"] == "pass", manifest["verify_fit"]
        if manifest["files"] or manifest["model_patch"]:
            assert manifest["verification"]["fits_model"], manifest["verification"]
        return
    # No automatic fix, or the output still does not fit: said, and exit 1.
    assert manifest["not_repaired"] or not manifest["verification"]["fits_model"]
