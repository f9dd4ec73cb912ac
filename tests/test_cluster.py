"""`--scheduler`: the per-file work on a Dask cluster gives the same report as a local run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import FIXTURES, run_subprocess

MODEL = str(FIXTURES / "seed" / "lstm" / "model.keras")

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real LocalCluster on loopback: worker processes, no dashboard."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


@pytest.fixture
def scheduler(cluster: Any) -> str:
    address: str = cluster.scheduler_address
    return address


def _tasks_run(cluster: Any) -> int:
    """How many kerasfix tasks reached memory (finished) on the cluster's scheduler."""
    prefix = cluster.scheduler.task_prefixes.get("kerasfix")
    return 0 if prefix is None else int(prefix.state_counts.get("memory", 0))


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(7)
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    for i in range(6):
        shape = [(10, 1), (10, 3), (10,)][i % 3]
        np.savez(
            data / ("sub" if i % 2 else "") / f"s{i}.npz",
            x=rng.standard_normal((16, *shape)).astype("float32"),
            y=rng.integers(0, 2, (16, 1)).astype("float32"),
        )
    (data / "broken.npy").write_bytes(b"\x93NUMPY not really")
    return data


def test_a_cluster_run_gives_the_same_json_report_as_a_local_run(
    tmp_path: Path, cluster: Any, scheduler: str
) -> None:
    data = _folder(tmp_path)
    args = ["diagnose", MODEL, str(data), "--format", "json", "--no-trace"]
    local = run_subprocess(args)
    before = _tasks_run(cluster)
    remote = run_subprocess([*args, "--scheduler", scheduler])
    assert _tasks_run(cluster) - before == 7  # every file ran on the cluster
    assert (remote.returncode, local.returncode) == (1, 1)
    assert remote.stdout == local.stdout
    codes = sorted(f["code"] for r in json.loads(local.stdout)["results"] for f in r["findings"])
    assert codes == ["KF001", "KF101", "KF101", "KF107", "KF107"]


def test_a_repair_on_a_cluster_writes_what_a_local_repair_writes(
    tmp_path: Path, scheduler: str
) -> None:
    data = _folder(tmp_path)
    (data / "broken.npy").unlink()
    local = run_subprocess(["repair", MODEL, str(data), "--out", str(tmp_path / "local")])
    remote = run_subprocess(
        ["repair", MODEL, str(data), "--out", str(tmp_path / "remote"), "--scheduler", scheduler]
    )
    assert (local.returncode, remote.returncode) == (1, 1)  # KF107 has no data fix
    manifests = [
        json.loads((tmp_path / out / "kerasfix-repair.json").read_text())["files"]
        for out in ("local", "remote")
    ]
    assert manifests[0] == manifests[1]
    assert len(manifests[0]) == 2


def test_an_unreachable_scheduler_is_a_usage_error(tmp_path: Path) -> None:
    data = _folder(tmp_path)
    outcome = run_subprocess(
        ["diagnose", MODEL, str(data), "--scheduler", "tcp://127.0.0.1:9", "--no-trace"]
    )
    assert outcome.returncode == 2
    assert outcome.stderr.startswith(
        "kerasfix: error: --scheduler tcp://127.0.0.1:9: cannot connect"
    )
    assert "Traceback" not in outcome.stderr


def test_a_folder_of_tfrecord_shards_on_a_cluster_reports_as_a_local_run(
    tmp_path: Path, cluster: Any, scheduler: str
) -> None:
    import shutil

    shards = tmp_path / "shards"
    shards.mkdir()
    for i, case in enumerate(("healthy", "ids-out-of-range", "corrupt-record")):
        source = FIXTURES / "tfrecord" / case / "train.tfrecord"
        shutil.copy(source, shards / f"train.tfrecord-{i:05d}-of-00003")
    model = str(FIXTURES / "tfrecord" / "healthy" / "model.keras")
    args = ["diagnose", model, str(shards), "--format", "json"]
    local = run_subprocess(args)
    remote = run_subprocess([*args, "--scheduler", scheduler])
    assert (remote.returncode, local.returncode) == (1, 1)
    assert remote.stdout == local.stdout
    report = json.loads(local.stdout)
    assert report["features"]["tokens"]["records"] == 35  # one corrupt record of 36


# --- a cluster as one is run: `dask scheduler` and `dask worker` processes of their own ------


def _start(command: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """A process in a session of its own (the worker's nannies go with it at the end)."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(20)


@contextlib.contextmanager
def _dask_cluster(root: Path, workers: int, wrap: list[str] | None = None) -> Iterator[str]:
    """`dask scheduler` and `dask worker --nworkers N` started from `root`, a directory that
    is not the client's (as on a cluster); `wrap` prefixes the worker command."""
    root.mkdir(parents=True, exist_ok=True)
    address_file = root / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    scheduler = _start(
        [
            *dask,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(address_file),
        ],
        root,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        worker = _start(
            [
                *(wrap or []),
                *dask,
                "worker",
                address,
                "--nworkers",
                str(workers),
                "--nthreads",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(root / "w"),
            ],
            root,
        )
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=60)
        yield str(address)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _dask_cluster(tmp_path_factory.mktemp("cluster-home"), workers=2) as address:
        yield address


def test_relative_data_on_a_cluster_started_elsewhere_gives_the_local_report(
    tmp_path: Path, dask_scheduler: str
) -> None:
    _folder(tmp_path)
    np.save(tmp_path / "labels.npy", np.zeros((16, 1), dtype="float32"))
    args = ["diagnose", MODEL, "data", "--format", "json", "--no-trace"]
    local = run_subprocess(args, cwd=tmp_path)
    remote = run_subprocess([*args, "--scheduler", dask_scheduler], cwd=tmp_path)
    assert (remote.returncode, local.returncode) == (1, 1), remote.stderr
    assert remote.stdout == local.stdout
    paths = {r["path"] for r in json.loads(remote.stdout)["results"]}
    assert "data/broken.npy" in paths and "data/sub/s1.npz" in paths
    # A relative --y-file is read by the workers too.
    with_labels = [*args, "--y-file", "labels.npy", "--select", "KF3"]
    local = run_subprocess(with_labels, cwd=tmp_path)
    remote = run_subprocess([*with_labels, "--scheduler", dask_scheduler], cwd=tmp_path)
    assert remote.stdout == local.stdout and remote.returncode == local.returncode


def test_a_repair_with_relative_paths_on_a_real_cluster_writes_the_local_outputs(
    tmp_path: Path, dask_scheduler: str
) -> None:
    _folder(tmp_path)
    (tmp_path / "data" / "broken.npy").unlink()
    local = run_subprocess(["repair", MODEL, "data", "--out", "local"], cwd=tmp_path)
    remote = run_subprocess(
        ["repair", MODEL, "data", "--out", "remote", "--scheduler", dask_scheduler], cwd=tmp_path
    )
    assert (local.returncode, remote.returncode) == (1, 1), remote.stderr
    manifests = [
        json.loads((tmp_path / out / "kerasfix-repair.json").read_text())["files"]
        for out in ("local", "remote")
    ]
    assert manifests[0] == manifests[1] and len(manifests[0]) == 2


def test_many_unreadable_files_are_summarized_in_one_short_line(
    tmp_path: Path, dask_scheduler: str
) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(300):
        (shards / f"part-{i:05d}.npy").write_bytes(b"\x93NUMPY not really")
    done = run_subprocess(
        ["diagnose", MODEL, "shards", "--scheduler", dask_scheduler], cwd=tmp_path
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("kerasfix: error: no DATA could be read (300 files): shards/part-00000")
    assert line.endswith("; and 297 more")
    assert len(line) < 600


def test_data_the_workers_cannot_see_is_one_line_before_any_work(tmp_path: Path) -> None:
    """Workers in a mount namespace where DATA's folder is an empty tmpfs: they cannot see
    what the client sees, as on a cluster without the shared filesystem."""
    _folder(tmp_path)
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs none {tmp_path / 'data'}"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("no mount namespace here (unshare --mount needs root)")
    hide = [
        "unshare",
        "--mount",
        "sh",
        "-c",
        f'mount -t tmpfs none {tmp_path / "data"} && exec "$@"',
    ]
    with _dask_cluster(tmp_path / "home", workers=1, wrap=[*hide, "sh"]) as address:
        done = run_subprocess(
            ["diagnose", MODEL, "data", "--no-trace", "--scheduler", address], cwd=tmp_path
        )
    assert done.returncode == 2, done
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "1 of 1 worker(s) cannot see DATA" in line
    assert "DATA must be visible to the workers at the same path" in line
