"""Folder runs (issue 7): worker isolation, timeouts, streaming jsonl, progress, Ctrl-C,
--glob/--exclude, repair over folders with resume. Everything runs the real CLI; hangs are
real FIFOs and crashes are real killed processes, so nothing here depends on timing luck."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from tests.conftest import FIXTURES, run_cli

MODEL = str(FIXTURES / "seed" / "lstm" / "model.keras")  # input (None, 10, 1), 1 sigmoid unit


def _shard(path: Path, rows: int = 8, shape: tuple[int, ...] = (10, 1)) -> None:
    rng = np.random.default_rng(len(path.name))
    x = rng.standard_normal((rows, *shape)).astype("float32")
    y = rng.integers(0, 2, (rows, 1)).astype("float32")
    np.savez(path, x=x, y=y)


def _shards(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"shard-{i:04d}.npz" for i in range(count)]
    for path in paths:
        _shard(path)
    return paths


def _kerasfix(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kerasfix", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


@contextlib.contextmanager
def _held(path: Path) -> Iterator[Callable[[], None]]:
    """A real shard whose reader blocks in open() until the test lets go. The test holds a
    write lease on it (fcntl F_SETLEASE): the kernel holds any other process's open() until
    the lease is released (or lease-break-time, 45 s, passes). Yields a function that
    returns once a reader is blocked on it."""
    _shard(path)
    previous = signal.signal(signal.SIGIO, signal.SIG_IGN)  # the lease-break notice
    fd = os.open(path, os.O_WRONLY)
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)

    def reader_blocked() -> None:
        deadline = time.monotonic() + 60
        while fcntl.fcntl(fd, fcntl.F_GETLEASE) == fcntl.F_WRLCK:
            assert time.monotonic() < deadline, f"nothing opened {path}"
            time.sleep(0.02)

    try:
        yield reader_blocked
    finally:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        os.close(fd)
        signal.signal(signal.SIGIO, previous)


def _readline(stream: IO[str] | None) -> str:
    # A plain blocking read: select() on a buffered text stream would miss buffered lines.
    # It cannot hang: the kernel breaks a held lease after lease-break-time at worst.
    assert stream is not None
    return stream.readline()


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _workers(root: int) -> list[int]:
    """kerasfix's worker processes: root's descendants running its own command line (forked
    from it, directly or through a fork server), not the fork server itself."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry)] = _ppid(int(entry))
    tree, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    command = Path(f"/proc/{root}/cmdline").read_bytes()
    workers = []
    for pid in sorted(tree):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes() == command:
                workers.append(pid)
    return workers


def test_one_corrupt_shard_among_1000_is_one_kf001_and_999_full_results(tmp_path: Path) -> None:
    paths = _shards(tmp_path / "data", 1000)
    paths[500].write_bytes(b"PK\x03\x04 this is not a zip archive")
    outcome = run_cli(["diagnose", MODEL, str(tmp_path / "data"), "--format", "json"], 1)
    report = json.loads(outcome.stdout)
    unreadable = [r for r in report["results"] if any(f["code"] == "KF001" for f in r["findings"])]
    assert [r["path"] for r in unreadable] == [str(paths[500])]
    full = {r["path"] for r in report["results"] if r["role"] == "x"}
    assert len(full) == 999
    assert report["summary"]["files"] == 1000
    assert report["summary"]["clean"] == 999
    text = run_cli(["diagnose", MODEL, str(tmp_path / "data")], 1).stdout
    assert sum("KF001" in line for line in text.splitlines()) == 1


def test_a_folder_run_gives_the_same_report_with_any_number_of_jobs(tmp_path: Path) -> None:
    paths = _shards(tmp_path / "data", 12)
    _shard(paths[3], shape=(10, 3))  # wrong feature count
    _shard(paths[7], shape=(10,))  # wrong rank
    args = ["diagnose", MODEL, str(tmp_path / "data"), "--format", "json", "--no-trace"]
    one = run_cli([*args, "--jobs", "1"], 1).stdout
    three = run_cli([*args, "--jobs", "3"], 1).stdout
    assert one == three
    codes = {
        r["path"]: [f["code"] for f in r["findings"]]
        for r in json.loads(one)["results"]
        if r["findings"]
    }
    assert codes == {str(paths[3]): ["KF107"], str(paths[7]): ["KF101"]}


def test_jsonl_lines_are_valid_while_the_run_is_in_progress(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _shards(data, 3)
    held = data / "zz-held.npz"
    with _held(held) as reader_blocked:
        proc = _kerasfix("diagnose", MODEL, str(data), "--format", "jsonl", "--jobs", "1")
        # The three shards are done and streamed while the run is provably still going: the
        # last file's reader is blocked opening it until this test lets go.
        lines = [_readline(proc.stdout) for _ in range(6)]
        reader_blocked()
        assert proc.poll() is None
        parsed = [json.loads(line) for line in lines]
        assert {(r["path"].rsplit("/", 1)[-1], r["role"]) for r in parsed} == {
            (f"shard-{i:04d}.npz", role) for i in range(3) for role in ("x", "y")
        }
    rest, _ = proc.communicate(timeout=60)
    tail = [json.loads(line) for line in rest.splitlines()]
    assert [(r["path"], r["role"]) for r in tail[:-1]] == [(str(held), "x"), (str(held), "y")]
    assert tail[-1]["summary"] == {"clean": 4, "errors": 0, "files": 4, "infos": 0, "warnings": 0}
    assert proc.returncode == 0


def test_a_file_that_hangs_becomes_kf001_after_file_timeout(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _shards(data, 2)
    with _held(data / "hangs.npz"):
        outcome = run_cli(
            ["diagnose", MODEL, str(data), "--file-timeout", "1", "--format", "json"], 1
        )
    report = json.loads(outcome.stdout)
    [hung] = [r for r in report["results"] if r["path"].endswith("hangs.npz")]
    assert hung["findings"][0]["code"] == "KF001"
    assert "longer than --file-timeout 1 s" in hung["findings"][0]["what"]
    assert report["summary"]["clean"] == 2


def test_a_crashed_reader_costs_only_its_own_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _shards(data, 3)
    held = data / "m-crashes.npz"
    with _held(held) as reader_blocked:
        proc = _kerasfix("diagnose", MODEL, str(data), "--format", "json", "--jobs", "1")
        reader_blocked()
        [worker] = _workers(proc.pid)
        os.kill(worker, signal.SIGKILL)  # as the OOM killer would
        out, err = proc.communicate(timeout=60)
    report = json.loads(out)
    [crashed] = [r for r in report["results"] if r["path"] == str(held)]
    assert "crashed the reader process (SIGKILL)" in crashed["findings"][0]["what"]
    assert report["summary"]["files"] == 4 and report["summary"]["clean"] == 3
    assert proc.returncode == 1
    assert "Traceback" not in err


def test_ctrl_c_reports_the_finished_files_and_exits_130(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _shards(data, 3)
    with _held(data / "zz-held.npz") as reader_blocked:
        proc = _kerasfix("diagnose", MODEL, str(data), "--format", "json", "--jobs", "1")
        reader_blocked()  # the three shards before it are done
        # The workers did three files without TensorFlow: none is mapped into them.
        workers = _workers(proc.pid)
        assert workers
        for worker in workers:
            assert "tensorflow" not in Path(f"/proc/{worker}/maps").read_text()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        _assert_gone(workers)
    assert proc.returncode == 130
    report = json.loads(out)
    assert {r["path"] for r in report["results"]} == {
        str(data / f"shard-{i:04d}.npz") for i in range(3)
    }
    assert err.strip().splitlines()[-1] == (
        "kerasfix: interrupted: the report holds the files finished (3 of 4)"
    )
    assert "Traceback" not in err


def _assert_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    for pid in pids:
        while Path(f"/proc/{pid}").exists():
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break  # dead, waiting to be reaped
            assert time.monotonic() < deadline, f"worker {pid} outlived kerasfix"
            time.sleep(0.05)


def test_sigterm_stops_diagnose_like_ctrl_c_and_leaves_no_worker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _shards(data, 2)
    with _held(data / "zz-held.npz") as reader_blocked:
        proc = _kerasfix("diagnose", MODEL, str(data), "--format", "jsonl", "--jobs", "1")
        reader_blocked()
        workers = _workers(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        _assert_gone(workers)
    assert proc.returncode == 130
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 5 and "summary" in lines[-1]
    assert "Traceback" not in err


def test_ignore_and_select_apply_to_unreadable_files_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    paths = _shards(data, 2)
    paths[1].write_bytes(b"not a zip")
    run_cli(["diagnose", MODEL, str(data)], 1)
    run_cli(["diagnose", MODEL, str(data), "--ignore", "KF001"], 0)
    run_cli(["diagnose", MODEL, str(data), "--select", "KF1"], 0)


def test_file_timeout_counts_only_the_files_own_time(tmp_path: Path) -> None:
    # Worker start-up (a fork server importing kerasfix) is not the file's time.
    _shards(tmp_path / "data", 4)
    run_cli(["diagnose", MODEL, str(tmp_path / "data"), "--file-timeout", "2", "--jobs", "2"], 0)


def test_a_closed_stdout_stops_kerasfix_quietly(tmp_path: Path) -> None:
    _shards(tmp_path / "data", 300)
    done = subprocess.run(
        [
            "bash",
            "-c",
            "set -o pipefail; "
            f"'{sys.executable}' -m kerasfix diagnose '{MODEL}' '{tmp_path / 'data'}' "
            "--format jsonl --jobs 1 | head -1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(done.stdout)["role"] in ("x", "y")
    assert done.stderr == ""
    assert done.returncode == 141


def test_glob_and_exclude_choose_files_by_name_or_relative_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _shards(data / "train", 2)
    _shards(data / "val", 2)
    _shard(data / "train" / "broken-x.npz", shape=(10, 3))

    def paths(*extra: str) -> set[str]:
        out = run_cli(["diagnose", MODEL, str(data), "--format", "json", *extra], None).stdout
        return {os.path.relpath(r["path"], data) for r in json.loads(out)["results"]}

    assert paths("--glob", "train/*") == {
        "train/broken-x.npz",
        "train/shard-0000.npz",
        "train/shard-0001.npz",
    }
    assert paths("--glob", "train/*", "--exclude", "broken-*") == {
        "train/shard-0000.npz",
        "train/shard-0001.npz",
    }
    assert paths("--exclude", "train/*", "--exclude", "*-0001.npz") == {"val/shard-0000.npz"}


def test_progress_goes_to_a_terminal_stderr_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _shards(data, 3)
    quiet = subprocess.run(
        [sys.executable, "-m", "kerasfix", "diagnose", MODEL, str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
    master, slave = os.openpty()
    with _held(data / "zz-held.npz") as reader_blocked:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kerasfix", "diagnose", MODEL, str(data), "--jobs", "1"],
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
        )
        os.close(slave)
        reader_blocked()
        seen = b""
        deadline = time.monotonic() + 30
        while b"3/4" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 4096)
    proc.communicate(timeout=60)
    os.close(master)
    assert b"checking" in seen and b"3/4" in seen


@pytest.mark.parametrize("count", [1, 3])
def test_repair_over_a_folder_keeps_the_layout_and_one_manifest(tmp_path: Path, count: int) -> None:
    data = tmp_path / "data"
    for sub in ("a", "b/c"):
        for i in range(count):
            (data / sub).mkdir(parents=True, exist_ok=True)
            _shard(data / sub / f"s{i}.npz", shape=(10,))  # KF101: add the feature axis
    out = tmp_path / "out"
    run_cli(["repair", MODEL, str(data), "--out", str(out)], 0)
    manifest = json.loads((out / "kerasfix-repair.json").read_text())
    outputs = sorted(e["output"] for e in manifest["files"])
    assert outputs == sorted(f"{sub}/s{i}.npz" for sub in ("a", "b/c") for i in range(count))
    for name in outputs:
        with np.load(out / name) as repaired:
            assert repaired["x"].shape == (8, 10, 1)
    assert not (out / ".kerasfix-repair.journal").exists()


def test_repair_resumes_skipping_outputs_whose_manifest_entry_and_sha256_match(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        _shard(data / f"s{i}.npz", shape=(10,))
    out = tmp_path / "out"
    run_cli(["repair", MODEL, str(data), "--out", str(out)], 0)
    first = {
        e["output"]: e for e in json.loads((out / "kerasfix-repair.json").read_text())["files"]
    }
    # An output damaged since, and an input changed since: both are written again.
    (out / "s1.npz").write_bytes(b"damaged")
    _shard(data / "s2.npz", rows=4, shape=(10,))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    run_cli(["repair", MODEL, str(data), "--out", str(out)], 0)
    again = {
        e["output"]: e for e in json.loads((out / "kerasfix-repair.json").read_text())["files"]
    }
    assert again["s0.npz"]["resumed"] is True
    assert (out / "s0.npz").stat().st_mtime_ns == before["s0.npz"]
    assert "resumed" not in again["s1.npz"] and "resumed" not in again["s2.npz"]
    assert again["s1.npz"]["sha256_output"] == first["s1.npz"]["sha256_output"]
    assert again["s2.npz"]["sha256_input"] != first["s2.npz"]["sha256_input"]


def test_resume_rewrites_a_file_whose_kept_rows_changed_through_its_labels(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    x = np.arange(80, dtype="float32").reshape(8, 10)
    y = (np.arange(8) % 2).astype("float32").reshape(8, 1)
    np.save(data / "x.npy", x)
    out = tmp_path / "out"
    for nan_row in (3, 6):
        labels = y.copy()
        labels[nan_row, 0] = np.nan
        np.save(data / "y.npy", labels)
        run_cli(["repair", MODEL, str(data), "--out", str(out), "--unsafe-fixes"], 0)
    manifest = json.loads((out / "kerasfix-repair.json").read_text())
    assert not any(entry.get("resumed") for entry in manifest["files"])
    kept = np.delete(np.arange(8), 6)
    np.testing.assert_array_equal(np.load(out / "x.npy")[..., 0], x[kept])
    np.testing.assert_array_equal(np.load(out / "y.npy"), y[kept])


def test_an_interrupted_repair_resumes_from_its_journal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        _shard(data / f"s{i}.npz", shape=(10,))
    out = tmp_path / "out"
    run_cli(["repair", MODEL, str(data), "--out", str(out)], 0)
    manifest = json.loads((out / "kerasfix-repair.json").read_text())
    # What a run killed after writing s0 leaves: s0 and its journal line, no manifest.
    (out / "kerasfix-repair.json").unlink()
    (out / "s1.npz").unlink()
    (out / ".kerasfix-repair.journal").write_text(
        json.dumps(manifest["files"][0]) + "\n" + '{"output": "s1.npz", "inp'  # torn line
    )
    run_cli(["repair", MODEL, str(data), "--out", str(out)], 0)
    resumed = json.loads((out / "kerasfix-repair.json").read_text())
    assert [e.get("resumed", False) for e in resumed["files"]] == [True, False]
    assert not (out / ".kerasfix-repair.journal").exists()
