"""Bad input: one clear line naming the file, RULES.md's exit code, no traceback; in a run
over several files the others are still reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import FIXTURES, run_subprocess

MODEL = FIXTURES / "seed" / "conv1d" / "model.keras"


def _bad_files(tmp: Path) -> dict[str, Path]:
    corrupt = tmp / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY\x01\x00{'descr': '<f4', 'fortran_order': Fal")
    good_h5 = tmp / "good.h5"
    with h5py.File(good_h5, "w") as f:
        f.create_dataset("x", data=np.zeros((20, 10, 3), dtype=np.float32))
    truncated = tmp / "truncated.h5"
    truncated.write_bytes(good_h5.read_bytes()[:1500])
    objects = tmp / "objects.npz"
    np.savez(objects, x=np.array([[1, 2], [3]], dtype=object))
    return {
        "corrupt.npy": corrupt,
        "truncated.h5": truncated,
        "objects.npz": objects,
        "missing.npy": tmp / "missing.npy",
    }


@pytest.mark.parametrize("name", ["corrupt.npy", "truncated.h5", "objects.npz", "missing.npy"])
def test_only_bad_data_exits_2_with_one_line(tmp_path: Path, name: str) -> None:
    path = _bad_files(tmp_path)[name]
    done = run_subprocess(["diagnose", str(MODEL), str(path)])
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kerasfix: error: no DATA could be read: ")
    assert name in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_object_array_names_the_pickle_opt_in(tmp_path: Path) -> None:
    path = _bad_files(tmp_path)["objects.npz"]
    done = run_subprocess(["diagnose", str(MODEL), str(path)])
    assert "never unpickles unless --allow-pickle" in done.stderr


def test_bad_files_among_good_ones_are_kf001_findings(tmp_path: Path) -> None:
    bad = _bad_files(tmp_path)
    good = tmp_path / "x.npy"
    shutil.copy(FIXTURES / "seed" / "conv1d" / "x.npy", good)
    done = run_subprocess(
        ["diagnose", str(MODEL), *map(str, bad.values()), str(good), "--format", "json"]
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    report = json.loads(done.stdout)
    by_path = {Path(r["path"]).name: r for r in report["results"]}
    for name in bad:
        assert [f["code"] for f in by_path[name]["findings"]] == ["KF001"], name
    assert by_path["x.npy"]["findings"] == []
    assert report["summary"]["files"] == 5
    assert report["summary"]["clean"] == 1


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not a model", b"PK\x03\x04broken zip", b"\x89HDF\r\n\x1a\nbroken"],
    ids=["empty", "text", "broken-zip", "broken-hdf5"],
)
def test_a_model_that_is_not_a_model_exits_2(tmp_path: Path, content: bytes) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(content)
    done = run_subprocess(["diagnose", str(model), str(FIXTURES / "seed" / "conv1d" / "x.npy")])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kerasfix: error: {model}: "), done.stderr
    assert "Traceback" not in done.stderr


def test_missing_model_exits_2(tmp_path: Path) -> None:
    done = run_subprocess(["inspect", str(tmp_path / "nope.keras")])
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"kerasfix: error: {tmp_path / 'nope.keras'}: no such file or folder"
    )


def test_weights_only_h5_is_not_a_model(tmp_path: Path) -> None:
    weights = tmp_path / "model.h5"
    with h5py.File(weights, "w") as f:
        f.create_dataset("dense/kernel", data=np.zeros((3, 1)))
    done = run_subprocess(["inspect", str(weights)])
    assert done.returncode == 2
    assert "without 'model_config'" in done.stderr


def test_unknown_option_is_a_usage_error() -> None:
    done = run_subprocess(["diagnose", str(MODEL), "--no-such-flag"])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_h5_external_link_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f.create_dataset("x", data=np.zeros((4, 10, 3), dtype=np.float32))
    linked = tmp_path / "linked.h5"
    with h5py.File(linked, "w") as f:
        f["x"] = h5py.ExternalLink(str(secret), "/x")
    done = run_subprocess(["diagnose", str(MODEL), str(linked)])
    assert done.returncode == 2
    assert "ExternalLink" in done.stderr


def test_npy_header_claiming_more_than_the_file_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1,), dtype=np.float64))
    header["shape"] = (2**40,)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
    done = run_subprocess(["diagnose", str(MODEL), str(path)])
    assert done.returncode == 2
    assert "truncated" in done.stderr
