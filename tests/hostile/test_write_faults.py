"""Write faults during `repair`: disk full (injected ENOSPC, and a real 1 MiB tmpfs where
this machine lets us mount one), a read-only --out, SIGINT/SIGTERM/SIGKILL mid-write, and two
repairs writing one --out at once. Each must leave the inputs byte-identical, no partial
output, one clear line and a stable exit code; and a rerun after the fault completes."""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import FIXTURES, run_cli

MODEL = FIXTURES / "KF103" / "positive" / "model.keras"  # (None, 8, 8, 3); data is (N, 3, 8, 8)


def _inputs(folder: Path, samples: int) -> Path:
    """A channels-first npz that repair transposes (KF103), with the model beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODEL, folder / "model.keras")
    rng = np.random.default_rng(samples)
    x = rng.random((samples, 3, 8, 8), dtype=np.float32)
    np.savez(folder / "train.npz", x=x, y=rng.integers(0, 3, samples).astype(np.int32))
    return folder


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _assert_repaired(folder: Path, out: Path) -> None:
    """The output holds the transposed input, every value kept, and nothing else."""
    assert sorted(p.name for p in out.iterdir()) == ["kerasfix-repair.json", "train.npz"]
    with np.load(folder / "train.npz") as given, np.load(out / "train.npz") as fixed:
        np.testing.assert_array_equal(fixed["x"], given["x"].transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(fixed["y"], given["y"])


def _leftovers(out: Path) -> list[str]:
    """Temp files and locks left behind. The journal is not one: it is the record of outputs
    already in place that a rerun resumes from."""
    if not out.exists():
        return []
    return [
        p.name
        for p in out.rglob("*")
        if p.name.startswith(".kerasfix-") and p.name != ".kerasfix-repair.journal"
    ]


def _repair_args(folder: Path, out: Path) -> list[str]:
    return ["repair", str(folder / "model.keras"), str(folder / "train.npz"), "--out", str(out)]


def _spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    # A child started from a non-interactive shell may inherit SIGINT ignored: restore it.
    return subprocess.Popen(
        [sys.executable, "-m", "kerasfix", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kwargs,
    )


def _wait_for(condition: Any, proc: subprocess.Popen[str], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


# --- disk full -----------------------------------------------------------------------------


class _FullDisk:
    """Files opened for writing under a kerasfix temp name fail with ENOSPC once `budget`
    bytes went to them: the `fail_at`-th such file (1: the first output, 2: the manifest)."""

    def __init__(self, fail_at: int, budget: int) -> None:
        self.fail_at = fail_at
        self.budget = budget
        self.opened = 0

    def wrap(self, real_open: Any) -> Any:
        def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_open(file, mode, *args, **kwargs)
            name = os.path.basename(str(file))
            if name.startswith(".kerasfix-") and any(m in mode for m in "wax"):
                self.opened += 1
                if self.opened == self.fail_at:
                    return _Filling(handle, self.budget)
            return handle

        return fake_open


class _Filling:
    """A file object whose writes fail with ENOSPC past a byte budget."""

    def __init__(self, handle: Any, budget: int) -> None:
        self._handle = handle
        self._left = budget

    def write(self, data: Any) -> int:
        size = len(data) if not isinstance(data, str) else len(data.encode())
        if size > self._left:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._left -= size
        written: int = self._handle.write(data)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _Filling:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._handle)


# Files repair opens for writing, in order: the data file, its journal line, the manifest.
@pytest.mark.parametrize("fail_at", [1, 2, 3], ids=["data-file", "journal", "manifest"])
def test_disk_full_leaves_inputs_intact_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    folder = _inputs(tmp_path / "in", 2000)
    out = tmp_path / "out"
    before = _hashes(folder)
    disk = _FullDisk(fail_at, budget=64 * 1024 if fail_at == 1 else 100)
    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", disk.wrap(builtins.open))
        patch.setattr(io, "open", disk.wrap(io.open))
        outcome = run_cli(_repair_args(folder, out), 2)
    assert disk.opened >= fail_at
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], outcome.stderr
    assert lines[0].startswith(f"kerasfix: error: cannot write under {out}")
    assert _hashes(folder) == before
    assert _leftovers(out) == []
    assert not (out / "kerasfix-repair.json").exists()  # a manifest only for a finished run
    run_cli(_repair_args(folder, out), 0)  # space is back: the rerun completes
    _assert_repaired(folder, out)
    assert _hashes(folder) == before


@contextlib.contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at `where`, where this machine lets us (root, no sandbox)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB filesystem."""
    with _tmpfs(tmp_path / "tiny", "size=1m") as where:
        yield where


def test_disk_full_on_a_real_tiny_filesystem(tmp_path: Path, tiny_tmpfs: Path) -> None:
    folder = _inputs(tmp_path / "in", 4000)  # 3 MiB of output for 1 MiB of space
    out = tiny_tmpfs / "out"
    before = _hashes(folder)
    outcome = run_cli(_repair_args(folder, out), 2)
    assert "No space left on device" in outcome.stderr
    assert _hashes(folder) == before
    assert _leftovers(out) == []
    assert not (out / "train.npz").exists()
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_tmpfs)], check=True)
    run_cli(_repair_args(folder, out), 0)
    _assert_repaired(folder, out)


# --- read-only --out -------------------------------------------------------------------


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An existing --out that cannot be written: chmod for a normal user; as root (whom
    chmod does not stop) a read-only tmpfs."""
    if os.geteuid() == 0:
        with _tmpfs(tmp_path / "ro", "ro,size=1m") as where:
            yield where
        return
    where = tmp_path / "ro"
    where.mkdir()
    where.chmod(0o555)
    yield where
    where.chmod(0o755)


def test_read_only_out_exits_2_with_one_line(tmp_path: Path, read_only_dir: Path) -> None:
    folder = _inputs(tmp_path / "in", 50)
    before = _hashes(folder)
    outcome = run_cli(_repair_args(folder, read_only_dir), 2)
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith(f"kerasfix: error: cannot write under {read_only_dir}")
    assert ("Read-only file system" in lines[0]) or ("Permission denied" in lines[0])
    assert list(read_only_dir.iterdir()) == []
    assert _hashes(folder) == before
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,rw", str(read_only_dir)], check=True)
    else:
        read_only_dir.chmod(0o755)
    run_cli(_repair_args(folder, read_only_dir), 0)
    _assert_repaired(folder, read_only_dir)


# --- interrupted runs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 50 MB to transpose: slow enough to interrupt mid-write."""
    return _inputs(tmp_path_factory.mktemp("big"), 65_000)


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 130), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_signal_mid_write_then_rerun_completes(
    tmp_path: Path, big_inputs: Path, signum: int, code: int
) -> None:
    out = tmp_path / "out"
    before = _hashes(big_inputs)
    proc = _spawn(_repair_args(big_inputs, out))
    if not _wait_for(lambda: any(out.glob(".kerasfix-*.part")), proc):
        proc.kill()
        pytest.fail(f"the repair ended before it could be interrupted: {proc.communicate()}")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    if signum != signal.SIGKILL:
        assert err.strip().splitlines() == ["kerasfix: interrupted"], err
        assert _leftovers(out) == []  # temp file and lock removed
    assert not (out / "train.npz").exists()  # no partial output under the real name
    assert not (out / "kerasfix-repair.json").exists()
    assert _hashes(big_inputs) == before
    # A SIGKILL leaves its temp file and lock file: the rerun takes the lock and sweeps them.
    done = subprocess.run(
        [sys.executable, "-m", "kerasfix", *_repair_args(big_inputs, out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert _leftovers(out) == []
    _assert_repaired(big_inputs, out)
    assert _hashes(big_inputs) == before


def test_two_repairs_into_one_out_the_second_exits_2(tmp_path: Path, big_inputs: Path) -> None:
    out = tmp_path / "out"
    before = _hashes(big_inputs)
    first = _spawn(_repair_args(big_inputs, out))
    if not _wait_for(lambda: any(out.glob(".kerasfix-*.part")), first):
        first.kill()
        pytest.fail(f"the first repair ended before it was caught writing: {first.communicate()}")
    # Freeze the first mid-write (lock held), so the second surely meets it there.
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "kerasfix", *_repair_args(big_inputs, out)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    finally:
        first.send_signal(signal.SIGCONT)
    _, first_err = first.communicate(timeout=300)
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip() == (
        f"kerasfix: error: --out {out} is being written by another kerasfix repair "
        f"(pid {first.pid}); wait for it to finish, or choose another folder"
    )
    assert first.returncode == 0, first_err
    _assert_repaired(big_inputs, out)  # the first run's outputs, untouched by the second
    assert _leftovers(out) == []
    assert _hashes(big_inputs) == before
    run_cli(_repair_args(big_inputs, out), 0)  # run again once the first is done: it completes
    _assert_repaired(big_inputs, out)
