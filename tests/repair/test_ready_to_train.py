"""`repair --out DIR` leaves a folder to train from: every DATA file of the run, the repaired
ones written, the unchanged ones hard-linked (copied across filesystems), label siblings
carried; `--changed-only` writes the repaired files alone; a rerun keeps what is right."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import FIXTURES, run_cli

SEED = FIXTURES / "seed" / "lstm"  # LSTM(32) on (None, 10, 1); x.npy (100, 10), y.npy (100,)


def _dataset(tmp_path: Path) -> Path:
    """data/x.npy (KF101: repaired) with its y.npy sibling (unchanged), data/shards/a.npz
    (clean), data/shards/b.npz (KF221: an unsafe fix, skipped without --unsafe-fixes)."""
    data = tmp_path / "data"
    (data / "shards").mkdir(parents=True)
    shutil.copy(SEED / "x.npy", data / "x.npy")
    shutil.copy(SEED / "y.npy", data / "y.npy")
    shutil.copy(SEED / "model.keras", tmp_path / "model.keras")
    x = np.random.default_rng(0).random((16, 10, 1), dtype=np.float32)
    np.savez(data / "shards" / "a.npz", x=x, y=np.zeros(16, np.int32))
    x[3, 2, 0] = np.nan
    np.savez(data / "shards" / "b.npz", x=x, y=np.zeros(16, np.int32))
    return data


def _manifest(out: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((out / "kerasfix-repair.json").read_text())
    return manifest


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_out_holds_every_data_file_unchanged_ones_hard_linked(tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    out = tmp_path / "fixed"
    outcome = run_cli(["repair", "model.keras", "data", "--out", "fixed"], 1, cwd=tmp_path)
    assert _files(out) == {*_files(data), "kerasfix-repair.json"}
    # Repaired: written anew. Unchanged (the label sibling, a clean shard, a shard whose only
    # fix is unsafe and was skipped): the very same files, hard-linked.
    assert not os.path.samefile(out / "x.npy", data / "x.npy")
    assert np.load(out / "x.npy").shape == (100, 10, 1)
    for name in ("y.npy", "shards/a.npz", "shards/b.npz"):
        assert os.path.samefile(out / name, data / name), name
    carried = {e["output"]: e["how"] for e in _manifest(out)["carried"]}
    assert carried == {"y.npy": "hardlink", "shards/a.npz": "hardlink", "shards/b.npz": "hardlink"}
    assert "carried 3 unchanged DATA files into fixed (3 hard-linked):" in outcome.stdout
    # The folder trains as the inputs would, less what was repaired: diagnose finds only the
    # finding no enabled repair fixes (KF221, unsafe), nothing else.
    report = json.loads(
        run_cli(["diagnose", "model.keras", "fixed", "--format", "json"], 1, cwd=tmp_path).stdout
    )
    codes = {(r["path"], f["code"]) for r in report["results"] for f in r["findings"]}
    assert codes == {("fixed/shards/b.npz", "KF221")}


def test_inputs_are_untouched_and_a_later_unsafe_repair_replaces_only_the_link(
    tmp_path: Path,
) -> None:
    data = _dataset(tmp_path)
    before = {name: (data / name).read_bytes() for name in _files(data)}
    run_cli(["repair", "model.keras", "data", "--out", "fixed"], 1, cwd=tmp_path)
    assert os.path.samefile(tmp_path / "fixed/shards/b.npz", data / "shards/b.npz")
    # Now the unsafe fix applies: fixed/shards/b.npz, a hard link to the input, is written
    # anew by name; the input's bytes stay as they were.
    run_cli(["repair", "model.keras", "data", "--out", "fixed", "--unsafe-fixes"], 0, cwd=tmp_path)
    assert not os.path.samefile(tmp_path / "fixed/shards/b.npz", data / "shards/b.npz")
    assert np.load(tmp_path / "fixed/shards/b.npz")["x"].shape == (15, 10, 1)
    assert {name: (data / name).read_bytes() for name in _files(data)} == before


def test_a_rerun_says_kept_for_what_is_already_right(tmp_path: Path) -> None:
    _dataset(tmp_path)
    args = ["repair", "model.keras", "data", "--out", "fixed"]
    run_cli(args, 1, cwd=tmp_path)
    written = (tmp_path / "fixed" / "x.npy").stat()
    outcome = run_cli(args, 1, cwd=tmp_path)
    assert not outcome.stdout.startswith("repaired into")
    assert "kept in fixed (an earlier run's output, still right):" in outcome.stdout
    assert "  data/x.npy -> fixed/x.npy" in outcome.stdout
    assert "carried 3 unchanged DATA files into fixed (3 kept):" in outcome.stdout
    again = (tmp_path / "fixed" / "x.npy").stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    manifest = _manifest(tmp_path / "fixed")
    assert [e["resumed"] for e in manifest["files"]] == [True]
    assert all(e["kept"] for e in manifest["carried"])


def test_changed_only_writes_the_repaired_files_alone(tmp_path: Path) -> None:
    _dataset(tmp_path)
    outcome = run_cli(
        ["repair", "model.keras", "data", "--out", "fixed", "--changed-only"], 1, cwd=tmp_path
    )
    assert _files(tmp_path / "fixed") == {"x.npy", "kerasfix-repair.json"}
    assert _manifest(tmp_path / "fixed")["carried"] == []
    assert "carried" not in outcome.stdout


def test_dry_run_lists_what_would_be_carried_and_writes_nothing(tmp_path: Path) -> None:
    _dataset(tmp_path)
    outcome = run_cli(
        ["repair", "model.keras", "data", "--out", "fixed", "--dry-run"], 1, cwd=tmp_path
    )
    assert "would carry 3 unchanged DATA files into fixed" in outcome.stdout
    assert "  data/y.npy -> fixed/y.npy" in outcome.stdout
    assert not (tmp_path / "fixed").exists()


def test_across_filesystems_unchanged_files_are_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/dev/shm is another filesystem on most Linux machines: a real EXDEV. Where it is not
    (or is missing), link(2) is made to answer EXDEV as it would there."""
    data = _dataset(tmp_path)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev:
        out = Path(os.path.realpath(shm)) / f"kerasfix-test-{os.getpid()}-{tmp_path.name}"
    else:

        def no_link(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", no_link)
        out = tmp_path / "fixed"
    try:
        run_cli(["repair", "model.keras", "data", "--out", str(out)], 1, cwd=tmp_path)
        manifest = _manifest(out)
        for entry in manifest["carried"]:
            assert entry["how"] == "copy", entry
            copied = out / entry["output"]
            assert not os.path.samefile(copied, data / entry["output"])
            assert copied.read_bytes() == (data / entry["output"]).read_bytes()
            assert entry["sha256"] == hashlib.sha256(copied.read_bytes()).hexdigest()
        # A rerun finds the copies right by their recorded sha256: kept, not copied again.
        outcome = run_cli(["repair", "model.keras", "data", "--out", str(out)], 1, cwd=tmp_path)
        assert "(3 kept)" in outcome.stdout
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_label_file_given_with_y_file_is_carried(tmp_path: Path) -> None:
    shutil.copy(SEED / "model.keras", tmp_path / "model.keras")
    shutil.copy(SEED / "x.npy", tmp_path / "inputs.npy")
    shutil.copy(SEED / "y.npy", tmp_path / "targets.npy")
    run_cli(
        ["repair", "model.keras", "inputs.npy", "--y-file", "targets.npy", "--out", "fixed"],
        0,
        cwd=tmp_path,
    )
    assert _files(tmp_path / "fixed") == {"inputs.npy", "targets.npy", "kerasfix-repair.json"}
    assert os.path.samefile(tmp_path / "fixed" / "targets.npy", tmp_path / "targets.npy")


@pytest.mark.tensorflow
def test_keras_trains_from_the_repaired_folder(tmp_path: Path) -> None:
    """What the folder is for: the training script reads DIR alone (x and its labels) and
    fit runs a step with no shape error."""
    _dataset(tmp_path)
    run_cli(["repair", "model.keras", "data", "--out", "fixed"], 1, cwd=tmp_path)
    from kerasfix.model.quiet import import_keras

    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    keras = import_keras()
    model = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = np.load(tmp_path / "fixed" / "x.npy"), np.load(tmp_path / "fixed" / "y.npy")
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])
