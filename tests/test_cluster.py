"""`--scheduler`: the per-file work on a Dask cluster gives the same report as a local run."""

from __future__ import annotations

import json
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
