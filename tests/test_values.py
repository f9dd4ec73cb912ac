"""Value scanning: one chunked pass, the same statistics whatever the chunking or format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from kerasfix.loaders import chunks, read_data_file
from kerasfix.stats import ScanPlan, scan
from tests.conftest import FIXTURES, run_cli

PLAN = ScanPlan(finite=True, value_range=True, thresholds=(7, 50), onehot=True)


def _write(path: Path, array: np.ndarray[Any, Any]) -> None:
    if path.suffix == ".npy":
        np.save(path, array)
    elif path.name.endswith(".c.npz"):
        np.savez_compressed(path, x=array)
    elif path.suffix == ".npz":
        np.savez(path, x=array)
    else:
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=array, chunks=True)


@pytest.mark.parametrize("name", ["a.npy", "a.npz", "a.c.npz", "a.h5"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_scan_matches_numpy_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, order: str
) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 64)  # many chunks of a few rows
    rng = np.random.default_rng(0)
    array = rng.integers(-3, 60, size=(101, 5)).astype(np.float32)
    array[17, 2] = np.nan
    array[40, 0] = np.inf
    array[55, 4] = 2.5
    array = np.asarray(array, order=order)
    path = tmp_path / name
    _write(path, array)
    (ref,) = read_data_file(str(path)).arrays.values()
    stats = scan(ref, PLAN)
    finite = np.where(np.isfinite(array), array, 0)
    assert stats.rows == 101 and stats.elements == array.size
    assert (stats.nan, stats.inf) == (1, 1)
    assert (stats.nonfinite_rows, stats.first_nonfinite_row) == (2, 17)
    assert stats.min == finite.min() and stats.max == finite.max()
    assert stats.negative.count == int((finite < 0).sum())
    assert stats.negative.first == tuple(int(i) for i in np.argwhere(finite < 0)[0])
    assert stats.at_or_above[50].count == int((finite >= 50).sum())
    assert stats.at_or_above[50].first == tuple(int(i) for i in np.argwhere(finite >= 50)[0])
    assert stats.fractional.count == 1 and stats.fractional.first == (55, 4)
    assert not stats.all_onehot


def test_scan_recognises_onehot_rows(tmp_path: Path) -> None:
    path = tmp_path / "y.npy"
    np.save(path, np.eye(4, dtype=np.float32)[np.arange(10) % 4])
    (ref,) = read_data_file(str(path)).arrays.values()
    stats = scan(ref, PLAN)
    assert stats.all_onehot and stats.binary


@pytest.mark.parametrize("shape", [(), (0,), (0, 3)])
def test_scan_of_empty_and_scalar_arrays(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "e.npy"
    np.save(path, np.zeros(shape, dtype=np.int64))
    (ref,) = read_data_file(str(path)).arrays.values()
    stats = scan(ref, PLAN)
    assert stats.elements == int(np.prod(shape))


def test_seed_embedding_id_equal_to_input_dim_is_kf201() -> None:
    outcome = run_cli(["diagnose", "model.keras", "x.npy"], 1, cwd=FIXTURES / "KF201" / "positive")
    assert "x.npy  KF201 error  index-out-of-range" in outcome.stdout
    assert "indices[2,3] = 10 is not in [0, 10)" in outcome.stdout
    assert "grow the Embedding's input_dim to 11" in outcome.stdout


def test_seed_embedding_negative_id_is_kf202() -> None:
    outcome = run_cli(["diagnose", "model.keras", "x.npy"], 1, cwd=FIXTURES / "KF202" / "positive")
    assert "x.npy  KF202 error  negative-index" in outcome.stdout
    assert "indices[2,3] = -1" in outcome.stdout


def test_truncated_data_after_a_valid_header_is_kf001(tmp_path: Path) -> None:
    good = FIXTURES / "KF201" / "negative" / "x.npy"
    bad = tmp_path / "x.npy"
    bad.write_bytes(good.read_bytes()[:-8])
    model = FIXTURES / "KF201" / "negative" / "model.keras"
    outcome = run_cli(["diagnose", str(model), str(bad), str(good)], 1)
    assert "KF001" in outcome.stdout


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("dtype", ["<f4", ">f8", "<i2", "|u1"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_chunks_of_npz_members_equal_numpys_reading(
    tmp_path: Path, compressed: bool, dtype: str, order: str
) -> None:
    """Stored members are read straight at their offset (no zip, no header parse); compressed
    ones through the zip: both must give exactly what np.load gives."""
    from kerasfix.loaders.chunks import iter_chunks
    from kerasfix.loaders.npz import read_npz

    rng = np.random.default_rng(3)
    arrays = {
        "x": np.asarray(rng.integers(0, 100, (37, 5, 3)), dtype=dtype, order=order),
        "a_longer_member_name": np.arange(11, dtype=dtype),
    }
    path = tmp_path / "data.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    refs = {ref.key: ref for ref in read_npz(str(path))}
    for key, expected in arrays.items():
        assert (refs[key].raw is None) == compressed
        chunks = [chunk.copy() for _, chunk in iter_chunks(refs[key])]
        np.testing.assert_array_equal(np.concatenate(chunks), expected)
