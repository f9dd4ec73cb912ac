"""Run the per-file work on an existing Dask cluster (`--scheduler ADDRESS`).

The optional extra `pip install kerasfix[dask]` brings dask.distributed. The work and its
context travel to the workers pickled by reference, so every worker needs kerasfix installed
(the same version) and must be able to read the DATA paths. The results are the same objects
a local run yields, so the report is the same.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from typing import Any

from kerasfix.errors import UsageError
from kerasfix.workers import Failed, Work


def _guarded(work: Work, context: Any, job: Any) -> tuple[bool, Any]:
    """Run on a Dask worker: a kerasfix bug on one file comes back as that file's reason."""
    try:
        return True, work(context, job)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return False, f"{type(exc).__name__}: {text[0] if text else ''}"


def run_dask(
    address: str,
    work: Work,
    context: Any,
    jobs: list[Any],
    timeout: float | None,
    failed: Failed,
) -> Iterator[Any]:
    """Yield one result per job, in the order they complete on the cluster. `timeout` is not
    enforced there: a task cannot be killed from the client; set the cluster's own limits."""
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
        [shared] = client.scatter([context], broadcast=True, hash=False)
        futures = {
            client.submit(_guarded, work, shared, job, key=f"kerasfix-{run}-{i}", pure=False): job
            for i, job in enumerate(jobs)
        }
        for future in distributed.as_completed(futures, loop=client.loop):
            job = futures[future]
            try:
                ok, value = future.result()
            except Exception as exc:  # the worker died, or the task was lost or cancelled
                text = str(exc).strip().splitlines()
                yield failed(job, f"the cluster could not run it: {text[0] if text else exc!r}")
                continue
            yield value if ok else failed(job, f"kerasfix failed: {value}")
    finally:
        client.close()
