"""The worker pool itself (kerasfix/workers.py), with real processes: deaths, timeouts and
results that arrive while the parent is busy elsewhere."""

from __future__ import annotations

import faulthandler
import os
import threading
import time

from kerasfix.workers import run_local


def _die_after_returning(context: None, job: int) -> int:
    """Returns, then dies while idle (as the OOM killer might take an idle worker)."""
    threading.Timer(0.05, os._exit, args=(0,)).start()
    return job


def _sleep(context: float, job: int) -> int:
    time.sleep(context)
    return job


def _crash_on_two(context: None, job: int) -> int:
    if job == 2:
        faulthandler.disable()  # pytest's, inherited by the fork: no dump for this abort
        os.abort()
    return job


def _failed(job: int, reason: str) -> str:
    return f"failed {job}: {reason}"


def test_a_worker_that_dies_while_idle_costs_no_job() -> None:
    results = []
    for result in run_local(_die_after_returning, None, [0, 1, 2, 3], 1, None, _failed):
        results.append(result)
        time.sleep(0.3)  # the idle worker is dead before the next job is handed over
    assert sorted(results) == [0, 1, 2, 3]


def test_a_result_waiting_in_the_pipe_is_not_timed_out() -> None:
    results = []
    for result in run_local(_sleep, 0.6, [0, 1, 2], 1, 1.0, _failed):
        results.append(result)
        time.sleep(1.0)  # the parent is slow to come back (writing a report, a busy CPU)
    assert results == [0, 1, 2]


def test_a_job_past_the_timeout_fails_alone() -> None:
    results = list(run_local(_sleep, 5.0, [0], 1, 0.5, _failed))
    assert results == ["failed 0: reading it took longer than --file-timeout 0.5 s"]


def test_a_crash_costs_only_its_job_and_the_rest_run_on_a_new_worker() -> None:
    results = list(run_local(_crash_on_two, None, [0, 1, 2, 3, 4], 2, None, _failed))
    assert sorted(map(str, results)) == [
        "0",
        "1",
        "3",
        "4",
        "failed 2: reading it crashed the reader process (SIGABRT)",
    ]
