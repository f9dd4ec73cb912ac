"""`kerasfix repair` through the real CLI: every repairable rule, values, safety, verification."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerasfix.repair import writers
from tests.conftest import FIXTURES, run_cli

Arrays = dict[str, np.ndarray[Any, Any]]


def _copy_case(tmp_path: Path, case: str) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path / "in"
    shutil.copytree(FIXTURES / case, folder)
    return folder, json.loads((folder / "case.json").read_text())


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _load(path: Path) -> Arrays:
    if path.suffix == ".npy":
        return {"": np.load(path)}
    if path.suffix == ".npz":
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".jsonl":
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        return {"x": np.array([r["x"] for r in lines]), "y": np.array([r["y"] for r in lines])}
    raise AssertionError(path)


def _keras_pad(maxlen: int, **kw: Any) -> Callable[[Any], np.ndarray[Any, Any]]:
    def pad(sequences: Any) -> np.ndarray[Any, Any]:
        import keras

        return keras.utils.pad_sequences(list(sequences), maxlen=maxlen, **kw)

    return pad


def _ragged(path: Path) -> list[list[int]]:
    return [json.loads(line)["x"] for line in path.read_text().splitlines()]


# case -> (file, how the expected arrays follow from the input's arrays)
EXPECTED: dict[str, tuple[str, Callable[[Path, Arrays], Arrays]]] = {
    "KF101/positive": ("x_train.npy", lambda p, a: {"": np.expand_dims(a[""], -1)}),
    "KF102/positive": ("train.npz", lambda p, a: {"x": np.squeeze(a["x"], -1)}),
    "KF103/positive": (
        "train.npz",
        lambda p, a: {"x": np.transpose(a["x"], (0, 2, 3, 1)), "y": a["y"]},
    ),
    "KF104/positive": ("train.npz", lambda p, a: {"x": a["x"].reshape(12, 4, 4, 1), "y": a["y"]}),
    "KF105/positive": ("train.npz", lambda p, a: {"x": _keras_pad(20)(a["x"]), "y": a["y"]}),
    "KF108/positive": ("x.npy", lambda p, a: {"": a[""][np.newaxis]}),
    "KF212/positive": ("train.npz", lambda p, a: {"x": a["x"], "y": a["y"] - 1}),
    "KF213/positive": ("train.npz", lambda p, a: {"x": a["x"], "y": np.argmax(a["y"], -1)}),
    "KF214/positive": ("train.npz", lambda p, a: {"x": a["x"], "y": np.eye(3)[a["y"]]}),
    "repair/KF215": ("train.npz", lambda p, a: {"x": a["x"], "y": a["y"].reshape(8, 1)}),
    "KF221/positive": (
        "train.npz",
        lambda p, a: {k: v[np.isfinite(a["x"]).all(axis=1)] for k, v in a.items()},
    ),
    "KF301/positive": ("train.npz", lambda p, a: {"x": a["x"][:8], "y": a["y"][:8]}),
    "KF302/positive": ("train.npz", lambda p, a: {"x": a["x"][:8], "y": a["y"][:8]}),
    "KF401/positive": (
        "train.jsonl",
        lambda p, a: {"x": _keras_pad(4)(_ragged(p)), "y": np.array([0, 1, 0])},
    ),
    "KF402/positive": (
        "train.jsonl",
        lambda p, a: {"x": _keras_pad(4)(_ragged(p)), "y": np.array([0, 1])},
    ),
}


@pytest.mark.tensorflow
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_repair_fixes_verifies_trains_and_keeps_values(tmp_path: Path, case: str) -> None:
    folder, meta = _copy_case(tmp_path, case)
    before = _digests(folder)
    out = tmp_path / "out"
    outcome = run_cli(
        [
            "repair",
            meta["model"],
            *meta["data"],
            *meta["args"],  # how the case trains (--batch-size)
            "--out",
            str(out),
            "--unsafe-fixes",
            "--prefer",
            "data",  # the data path, even where a model patch would be lossless
            "--verify-fit",
            "--format",
            "json",
        ],
        0,
        cwd=folder,
    )
    manifest = json.loads(outcome.stdout)
    assert _digests(folder) == before, "an input changed"
    assert manifest["verification"]["status"] == "pass"
    assert manifest["verify_fit"]["status"] == "pass", manifest["verify_fit"]
    assert manifest == json.loads((out / "kerasfix-repair.json").read_text())
    code = case.split("/")[-1] if case.startswith("repair/") else case.split("/")[0]
    assert code in {a["code"] for f in manifest["files"] for a in f["actions"]}
    for entry in manifest["files"]:
        written = out / entry["output"]
        assert hashlib.sha256(written.read_bytes()).hexdigest() == entry["sha256_output"]
        assert (
            hashlib.sha256((folder / entry["input"]).read_bytes()).hexdigest()
            == entry["sha256_input"]
        )

    name, expect = EXPECTED[case]
    if name.endswith(".jsonl"):
        expected = expect(folder / name, {})
    else:
        expected = expect(folder / name, _load(folder / name))
    got = _load(out / name)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=f"{case} {key}")

    # The output diagnoses clean of the repaired code, and a second repair plans nothing.
    report = json.loads(
        run_cli(
            ["diagnose", meta["model"], str(out / name), *meta["args"], "--format", "json"],
            None,
            cwd=folder,
        ).stdout
    )
    assert code not in {f["code"] for r in report["results"] for f in r["findings"]}
    again = run_cli(
        [
            "repair",
            meta["model"],
            str(out / name),
            *meta["args"],
            "--out",
            str(tmp_path / "again"),
            "--unsafe-fixes",
            "--dry-run",
            "--format",
            "json",
        ],
        None,
        cwd=folder,
    )
    assert all(not f["actions"] for f in json.loads(again.stdout)["plan"]["files"])


def test_seed_lstm_repaired_gives_a_trailing_axis(tmp_path: Path) -> None:
    folder, _ = _copy_case(tmp_path, "seed/lstm")
    run_cli(["repair", "model.keras", "x.npy", "--out", str(tmp_path / "out")], 0, cwd=folder)
    assert np.load(tmp_path / "out" / "x.npy").shape == (100, 10, 1)


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    folder, _ = _copy_case(tmp_path, "KF101/positive")
    out = tmp_path / "out"
    outcome = run_cli(
        ["repair", "model.h5", "x_train.npy", "--out", str(out), "--dry-run"], 0, cwd=folder
    )
    assert "KF101 expand_dims(axis=3) [safe]" in outcome.stdout
    assert not out.exists()


def test_unsafe_fixes_are_skipped_without_the_flag(tmp_path: Path) -> None:
    folder, _ = _copy_case(tmp_path, "KF221/positive")
    out = tmp_path / "out"
    outcome = run_cli(["repair", "model.keras", "train.npz", "--out", str(out)], 1, cwd=folder)
    assert "skipped (unsafe" in outcome.stdout
    assert "KF221 drop_nonfinite_rows" in outcome.stdout
    # Not rewritten: carried unchanged (the same file), so --out is still a whole dataset.
    assert os.path.samefile(out / "train.npz", folder / "train.npz")
    changed = tmp_path / "changed"
    run_cli(
        ["repair", "model.keras", "train.npz", "--out", str(changed), "--changed-only"],
        1,
        cwd=folder,
    )
    assert not (changed / "train.npz").exists()


def test_out_inside_a_data_folder_is_refused(tmp_path: Path) -> None:
    folder, _ = _copy_case(tmp_path, "KF101/positive")
    before = _digests(folder)
    outcome = run_cli(["repair", "model.h5", ".", "--out", "fixed"], 2, cwd=folder)
    assert "inside the DATA folder" in outcome.stderr
    assert _digests(folder) == before


def test_out_that_would_replace_an_input_is_refused(tmp_path: Path) -> None:
    folder, _ = _copy_case(tmp_path, "KF101/positive")
    before = _digests(folder)
    outcome = run_cli(["repair", "model.h5", "x_train.npy", "--out", "."], 2, cwd=folder)
    assert "would replace it" in outcome.stderr
    assert _digests(folder) == before


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_write_that_fails_midway_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    folder, _ = _copy_case(tmp_path, "KF103/positive")
    before = _digests(folder)

    def failing(fh: Any, job: Any) -> None:
        fh.write(b"\x93NUMPY partial")
        raise error

    monkeypatch.setattr(writers, "write_npy_stream", failing)
    out = tmp_path / "out"
    outcome = run_cli(["repair", "model.keras", "train.npz", "--out", str(out)], None, cwd=folder)
    # A write error is the user's to fix (disk, permissions): exit 2 with one line.
    assert outcome.exit_code == (130 if isinstance(error, KeyboardInterrupt) else 2)
    left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert left == [], f"left under --out: {left}"
    assert _digests(folder) == before


def test_npz_keeps_every_member_and_its_compression(tmp_path: Path) -> None:
    source = FIXTURES / "KF103" / "positive"
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(source / "model.keras", folder)
    with np.load(source / "train.npz") as z:
        np.savez_compressed(folder / "train.npz", x=z["x"], y=z["y"], meta=np.arange(5))
    run_cli(["repair", "model.keras", "train.npz", "--out", str(tmp_path / "out")], 0, cwd=folder)
    import zipfile

    with zipfile.ZipFile(tmp_path / "out" / "train.npz") as z:
        assert sorted(z.namelist()) == ["meta.npy", "x.npy", "y.npy"]
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    with np.load(tmp_path / "out" / "train.npz") as z:
        np.testing.assert_array_equal(z["meta"], np.arange(5))
        assert z["x"].shape == (12, 8, 8, 3)


def test_h5_keeps_datasets_and_attributes(tmp_path: Path) -> None:
    import h5py

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(FIXTURES / "KF101" / "positive" / "model.h5", folder)
    with h5py.File(folder / "train.h5", "w") as f:
        f.attrs["source"] = "camera 3"
        f.create_dataset(
            "x",
            data=np.random.default_rng(0).random((12, 8, 8), dtype=np.float32),
            compression="gzip",
        )
        f["x"].attrs["units"] = "lux"
        f["y"] = np.arange(12) % 3
        f["extra/notes"] = np.arange(3)
    run_cli(["repair", "model.h5", "train.h5", "--out", str(tmp_path / "out")], 0, cwd=folder)
    with h5py.File(tmp_path / "out" / "train.h5") as f, h5py.File(folder / "train.h5") as g:
        assert f.attrs["source"] == "camera 3"
        assert f["x"].shape == (12, 8, 8, 1) and f["x"].attrs["units"] == "lux"
        assert f["x"].compression == "gzip"
        np.testing.assert_array_equal(f["x"][..., 0], g["x"][()])
        np.testing.assert_array_equal(f["extra/notes"][()], np.arange(3))
