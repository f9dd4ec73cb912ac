"""Run the per-file work on an existing Dask cluster (`--scheduler ADDRESS`).

The optional extra `pip install kerasfix[dask]` brings dask.distributed. The work and its
context travel to the workers pickled by reference, so every worker needs kerasfix installed
(the same version) and must be able to read the DATA paths: the caller sends absolute paths
(a worker started elsewhere resolves a relative one against its own directory), and the
workers are asked first whether they see them. Files go out in batches: one task per file
costs the scheduler more than a small file costs to check. The results are the same objects
a local run yields, so the report is the same.
"""

from __future__ import annotations

import importlib
import math
import os
import uuid
from collections.abc import Iterator
from typing import Any

from kerasfix.errors import UsageError
from kerasfix.workers import Failed, Work

# Batches per worker thread: enough that a slow batch does not leave the others idle at the
# end, few enough that the scheduler's per-task cost stays small against the files' own.
BATCHES_PER_THREAD = 4
MAX_BATCH = 200


def _guarded(work: Work, context: Any, job: Any) -> tuple[bool, Any]:
    """Run on a Dask worker: a kerasfix bug on one file comes back as that file's reason."""
    try:
        return True, work(context, job)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return False, f"{type(exc).__name__}: {text[0] if text else ''}"


def _guarded_batch(work: Work, context: Any, jobs: list[Any]) -> list[tuple[bool, Any]]:
    """Run on a Dask worker: one batch of files, each answered on its own."""
    return [_guarded(work, context, job) for job in jobs]


def _missing(paths: list[str]) -> list[str]:
    """Run on every Dask worker: which of `paths` it cannot see."""
    return [p for p in paths if not os.path.exists(p)]


def batch_size(jobs: int, threads: int) -> int:
    return max(1, min(MAX_BATCH, math.ceil(jobs / (max(1, threads) * BATCHES_PER_THREAD))))


def run_dask(
    address: str,
    work: Work,
    context: Any,
    jobs: list[Any],
    timeout: float | None,
    failed: Failed,
    visible: list[str] | None = None,
) -> Iterator[Any]:
    """Yield one result per job, a batch at a time, in the order batches complete on the
    cluster. `visible`: absolute paths every worker must see, checked before any work is sent.
    `timeout` is not enforced there: a task cannot be killed from the client; set the
    cluster's own limits."""
    try:
        # Any: distributed ships no type hints for Client.
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise UsageError(
            "--scheduler needs dask.distributed: pip install 'kerasfix[dask]'"
        ) from None
    try:
        client = distributed.Client(address, timeout=10, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--scheduler {address}: cannot connect ({exc})") from None
    run = uuid.uuid4().hex[:8]
    try:
        threads = sum(client.nthreads().values())
        if visible:
            _check_visible(client, address, visible)
        [shared] = client.scatter([context], broadcast=True, hash=False)
        size = batch_size(len(jobs), threads)
        batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        futures = {
            client.submit(
                _guarded_batch, work, shared, batch, key=f"kerasfix-{run}-{i}", pure=False
            ): batch
            for i, batch in enumerate(batches)
        }
        for future in distributed.as_completed(futures, loop=client.loop):
            batch = futures[future]
            try:
                answers = future.result()
            except Exception as exc:  # the worker died, or the task was lost or cancelled
                text = str(exc).strip().splitlines()
                reason = f"the cluster could not run it: {text[0] if text else exc!r}"
                for job in batch:
                    yield failed(job, reason)
                continue
            for job, (ok, value) in zip(batch, answers, strict=True):
                yield value if ok else failed(job, f"kerasfix failed: {value}")
    finally:
        client.close()


def _check_visible(client: Any, address: str, paths: list[str]) -> None:
    """One clear line, before any work: DATA the workers cannot see would otherwise be a
    KF001 per file."""
    try:
        missing = client.run(_missing, paths)
    except Exception:  # a worker that cannot answer this cannot run the work either
        return
    blind = {worker: gone for worker, gone in missing.items() if gone}
    if not blind:
        return
    worker, gone = sorted(blind.items())[0]
    raise UsageError(
        f"--scheduler {address}: {len(blind)} of {len(missing)} worker(s) cannot see DATA "
        f"({worker} finds no {gone[0]}): DATA must be visible to the workers at the same path"
    )
