"""Properties of repair, over data hypothesis draws for real (fixture) models, through the
library in-process with `trace_model=False`, so no example imports TensorFlow:

- repair, then diagnose the result: nothing is left (every safe fix did its job);
- repair is idempotent: repairing the repaired data plans nothing;
- values are preserved: the output holds the input's values, moved only as the fix says.

The budget is a hypothesis profile (tests/properties/conftest.py): a fixed number of examples,
no deadline, no example database written into the repository.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kerasfix import api
from kerasfix.options import DiagnoseOptions
from kerasfix.repair.plan import RepairOptions
from tests.conftest import FIXTURES

IMAGE_MODEL = FIXTURES / "KF104" / "positive" / "model.keras"  # (None, 4, 4, 1), 3 classes
SEQUENCE_MODEL = FIXTURES / "KF401" / "positive" / "model.keras"  # (None, 4), Embedding(10)
LIGHT = DiagnoseOptions(trace_model=False)
Array = np.ndarray[Any, Any]

# How the samples of a (None, 4, 4, 1) input may arrive: each is one safe fix away.
LAYOUTS = {
    "as-declared": (4, 4, 1),
    "no-channel-axis": (4, 4),  # KF101: expand_dims
    "flattened": (16,),  # KF104: reshape
    "extra-axis": (4, 4, 1, 1),  # KF102: squeeze
    "channels-first": (1, 4, 4),  # KF103: transpose
}


@st.composite
def image_data(draw: st.DrawFn) -> tuple[Array, Array, str]:
    samples = draw(st.integers(1, 24))
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    dtype = draw(st.sampled_from(["float32", "float64", "int16"]))
    shape = (samples, *LAYOUTS[layout])
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 100).astype(dtype)
    encoding = draw(st.sampled_from(["sparse", "sparse-column", "one-based", "one-hot"]))
    classes = rng.integers(0, 3, samples)
    if encoding == "one-based":
        classes[: min(3, samples)] = np.arange(min(3, samples))  # KF212 needs 1..3, no 0
        classes = classes + 1 if samples >= 3 else classes
    y: Array
    if encoding == "sparse-column":
        y = classes[:, np.newaxis].astype(np.int32)
    elif encoding == "one-hot":
        y = np.eye(3, dtype=np.float32)[classes]
    else:
        y = classes.astype(np.int64)
    container = draw(st.sampled_from(["npz", "h5", "npy"]))
    return x, y, container


def _write(folder: Path, x: Array, y: Array, container: str) -> tuple[list[str], str | None]:
    """DATA paths and --y-file for one drawn data set."""
    if container == "npz":
        np.savez(folder / "train.npz", x=x, y=y)
        return [str(folder / "train.npz")], None
    if container == "h5":
        with h5py.File(folder / "train.h5", "w") as f:
            f.create_dataset("x", data=x)
            f.create_dataset("y", data=y)
        return [str(folder / "train.h5")], None
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    return [str(folder / "x.npy")], str(folder / "y.npy")


def _read(paths: list[str], y_file: str | None) -> tuple[Array, Array]:
    path = paths[0]
    if path.endswith(".npz"):
        with np.load(path) as z:
            return z["x"], z["y"]
    if path.endswith(".h5"):
        with h5py.File(path, "r") as f:
            return f["x"][()], f["y"][()]
    assert y_file is not None
    return np.load(path), np.load(y_file)


def _repair(
    model: Path, paths: list[str], y_file: str | None, out: Path
) -> tuple[Any, list[str], str | None]:
    """Repair into `out`; the repaired data set's paths (inputs where nothing was written)."""
    options = DiagnoseOptions(trace_model=False, y_file=y_file)
    diagnosis, plan = api.plan_repair(str(model), paths, str(out), options, RepairOptions())
    outcome = api.apply_repair(str(model), diagnosis, plan, options, RepairOptions())
    written = {f.path: str(out / f.output) for f in plan.files if f.actions}
    fixed_y = written.get(y_file, y_file) if y_file is not None else None
    return outcome, [written.get(p, p) for p in paths], fixed_y


def _findings(model: Path, paths: list[str], y_file: str | None) -> list[tuple[str, str]]:
    options = DiagnoseOptions(trace_model=False, y_file=y_file)
    report = api.diagnose(str(model), paths, options)
    return [(r.path, f.code) for r in report.results for f in r.findings]


@given(image_data())
def test_repaired_images_diagnose_clean_keep_values_and_repair_to_nothing(
    drawn: tuple[Array, Array, str],
) -> None:
    x, y, container = drawn
    with tempfile.TemporaryDirectory() as tmp:
        given_dir, out = Path(tmp, "in"), Path(tmp, "out")
        given_dir.mkdir()
        paths, y_file = _write(given_dir, x, y, container)
        outcome, fixed, fixed_y = _repair(IMAGE_MODEL, paths, y_file, out)

        assert outcome.failed_claims == []
        assert _findings(IMAGE_MODEL, fixed, fixed_y) == []
        new_x, new_y = _read(fixed, fixed_y)
        # Every layout here is one size-1 axis away from (N, 4, 4, 1): the values keep their
        # order, whatever the fix, and their dtype.
        assert new_x.shape == (len(x), 4, 4, 1)
        assert new_x.dtype == x.dtype
        np.testing.assert_array_equal(new_x.ravel(), x.ravel())
        if y.ndim == 2 and y.shape[1] == 3:  # one-hot under a sparse loss: argmax
            np.testing.assert_array_equal(new_y, y.argmax(axis=1))
        elif y.min() == 1 and y.max() == 3:  # numbered from 1: shifted to 0
            np.testing.assert_array_equal(new_y.ravel(), y.ravel() - 1)
        else:
            np.testing.assert_array_equal(new_y, y)

        _, plan = api.plan_repair(
            str(IMAGE_MODEL),
            fixed,
            str(Path(tmp, "again")),
            DiagnoseOptions(trace_model=False, y_file=fixed_y),
            RepairOptions(dry_run=True),
        )
        assert [f.actions for f in plan.files if f.actions] == []
        assert not plan.model_actions


@given(
    st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=4), min_size=1, max_size=30),
    st.sampled_from(["pre", "post"]),
)
def test_padded_sequences_keep_every_token(sequences: list[list[int]], padding: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp, "train.jsonl"), Path(tmp, "out")
        records = [{"x": s, "y": i % 2} for i, s in enumerate(sequences)]
        data.write_text("".join(json.dumps(r) + "\n" for r in records))
        before = data.read_bytes()
        options = DiagnoseOptions(trace_model=False, padding=padding)
        diagnosis, plan = api.plan_repair(
            str(SEQUENCE_MODEL), [str(data)], str(out), options, RepairOptions()
        )
        outcome = api.apply_repair(str(SEQUENCE_MODEL), diagnosis, plan, options, RepairOptions())
        assert outcome.failed_claims == []
        assert data.read_bytes() == before
        fixed = out / "train.jsonl"
        if not fixed.exists():  # every sequence already had the input's length
            assert all(len(s) == 4 for s in sequences)
            return
        assert _findings(SEQUENCE_MODEL, [str(fixed)], None) == []
        rows = [json.loads(line) for line in fixed.read_text().splitlines()]
        assert [r["y"] for r in rows] == [r["y"] for r in records]
        for row, tokens in zip(rows, sequences, strict=True):
            pad = [0] * (4 - len(tokens))
            assert row["x"] == (pad + tokens if padding == "pre" else tokens + pad)
        assert not os.path.exists(out / "again")
