"""Cluster benchmark: `kerasfix diagnose MODEL shards/ --scheduler ADDRESS` on a real Dask
cluster (a `dask scheduler` and a `dask worker --nworkers 2 --nthreads 1`, started from
another directory, on the same machine) against the same command run locally.

Generates (not committed) bench/out/cluster/shards/: 2,000 small `.npz` shards of x (32, 10, 1)
float32 and y (32, 1), a quarter with x of the wrong rank and a quarter with the wrong feature
count, for the seed LSTM model. DATA is given as a relative path, as a user types it. Both
commands run as whole processes, alternating, after one warm-up run of each (the workers'
first task imports kerasfix); both must print the same report. Writes the "Cluster" section
of docs/benchmarks.md.

    .venv/bin/python bench/cluster.py [--shards 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from benchdoc import replace_section

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "cluster"
DOC = ROOT / "docs" / "benchmarks.md"
MODEL = "fixtures/seed/lstm/model.keras"
WORKERS = 2


def generate(folder: Path, shards: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(shards):
        path = folder / f"part-{i:05d}.npz"
        if path.exists():
            continue
        shape = ((10, 1), (10, 1), (10,), (10, 3))[i % 4]
        np.savez(
            path,
            x=rng.standard_normal((32, *shape)).astype(np.float32),
            y=rng.integers(0, 2, (32, 1)).astype(np.float32),
        )


def _start(command: list[str], cwd: Path) -> subprocess.Popen[bytes]:
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
def cluster(home: Path) -> Iterator[str]:
    """`dask scheduler` and `dask worker` processes, started from `home`."""
    import distributed

    home.mkdir(parents=True, exist_ok=True)
    address_file = home / "scheduler.json"
    address_file.unlink(missing_ok=True)
    dask = [sys.executable, "-m", "dask"]
    scheduler = _start(
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(address_file)],
        home,
    )  # fmt: skip
    worker = None
    try:
        while not address_file.exists():
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        worker = _start(
            [*dask, "worker", address, "--nworkers", str(WORKERS), "--nthreads", "1",
             "--no-dashboard", "--local-directory", str(home / "w")],
            home,
        )  # fmt: skip
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(WORKERS, timeout=120)
        yield str(address)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


def timed(cmd: list[str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.returncode, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    shards = OUT / "shards"
    generate(shards, args.shards)
    subprocess.run(["sh", "-c", f"cat '{shards}'/* > /dev/null"], check=True)
    data = str(shards.relative_to(ROOT))
    local = [sys.executable, "-m", "kerasfix", "diagnose", MODEL, data, "--format", "json"]
    times: dict[str, list[float]] = {"local": [], "cluster": []}
    with cluster(OUT / "home") as address:
        remote = [*local, "--scheduler", address]
        reports = {}
        for label, cmd in (("local", local), ("cluster", remote)):  # warm-up, not counted
            _, code, out = timed(cmd)
            if code != 1:
                raise SystemExit(f"{label}: kerasfix exited {code}")
            reports[label] = out
        if reports["local"] != reports["cluster"]:
            raise SystemExit("the cluster's report differs from the local one")
        for _ in range(args.runs):
            for label, cmd in (("local", local), ("cluster", remote)):
                seconds, code, out = timed(cmd)
                if code != 1 or out != reports["local"]:
                    raise SystemExit(f"{label}: exit {code}, or another report")
                times[label].append(seconds)
    a, b = (statistics.median(times[k]) for k in ("local", "cluster"))
    report = json.loads(reports["local"])
    flagged = sum(1 for r in report["results"] if r["findings"])
    row = "| {} | `{}` | {:.2f} | {} |\n"
    body = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}; {args.shards} small `.npz` shards of x "
        f"(32, 10, 1) float32 and y (32, 1) ({flagged} with findings), the seed LSTM model, "
        f"DATA given as a relative path; a `dask scheduler` and a `dask worker --nworkers "
        f"{WORKERS} --nthreads 1` started from another directory on the same machine (the "
        "workers share its cores with the client); median of "
        f"{args.runs} alternating runs of each whole command after one warm-up run of each, "
        "corpus in the page cache. Both print the same report.\n\n"
        "| | command | median s | runs s |\n|---|---|---|---|\n"
        + row.format(
            "local",
            f"kerasfix diagnose {MODEL} {data} --format json",
            a,
            ", ".join(f"{t:.2f}" for t in times["local"]),
        )
        + row.format(
            "cluster",
            f"kerasfix diagnose {MODEL} {data} --format json --scheduler ADDRESS",
            b,
            ", ".join(f"{t:.2f}" for t in times["cluster"]),
        )
        + f"\nThe cluster run takes **{b / a:.2f}x** the local run's time (goal: at most 2x). "
        "Files go to the workers in batches (about four per worker thread, at most 200 files "
        "each): one task per file cost the scheduler more than a small shard costs to check. "
        "Reproduce: `.venv/bin/python bench/cluster.py` (writes ~"
        f"{args.shards * 2.5 / 1024:.0f} MB under bench/out/).\n"
    )
    page = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    DOC.write_text(replace_section(page, "Cluster", body))
    print(body)


if __name__ == "__main__":
    main()
