"""Run one function over many jobs in worker processes, each job isolated from the others.

A folder run must never lose a file's result because another file was bad: a reader that
crashes the interpreter (a segfault in a C library), hangs (a FIFO, a network mount) or runs
past `--file-timeout` costs only its own job. The parent hands out one job at a time to each
worker, watches the worker's pipe *and* its process sentinel, and replaces a worker that died
or was killed. `concurrent.futures.ProcessPoolExecutor` cannot do this: one dead worker breaks
the whole pool, and it has no per-task timeout.

Workers are forked from the parent while it holds no TensorFlow and no other Python thread
(the CLI's usual state), otherwise from a fork server whose preload is kerasfix's library:
either way they start without TensorFlow and never import it: Keras's questions are asked by
the run's own process, through its Keras child (model/keras_child.py).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import selectors
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

Job = TypeVar("Job")

# Work, run in the worker: (context, job) -> result. Must be a module-level function.
Work = Callable[[Any, Any], Any]
# What the parent reports for a job whose worker died or timed out: (job, reason) -> result.
Failed = Callable[[Any, str], Any]


def default_jobs() -> int:
    """The cores this process may run on (its affinity, not the whole machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


READY = "ready"  # a worker's first message: started, and its imports done
# Workers that die before they are ready, in a row, before the run gives up (exit 3): a
# broken installation, not a bad file.
MAX_START_FAILURES = 3


def _worker_main(conn: Connection, work: Work, context: Any) -> None:
    # Ctrl-C reaches the whole process group; the parent decides what stops, and kills us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the CLI's SIGTERM-as-Ctrl-C handler: plain termination here.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    conn.send((READY, True, None))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        index, job = message
        try:
            conn.send((index, True, work(context, job)))
        except Exception as exc:  # a kerasfix bug on this job: report it, keep serving
            text = str(exc).strip().splitlines()
            conn.send((index, False, f"{type(exc).__name__}: {text[0] if text else ''}"))


@dataclass(eq=False)  # compared and hashed by identity
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    # Jobs handed over, in order: pending[0] is running, the next waits in the pipe, so the
    # worker never idles while the parent is busy elsewhere.
    pending: deque[int] = field(default_factory=deque)
    started: float = (
        0.0  # when pending[0] started: handed to an idle worker, or the one before it ended
    )


# Jobs in flight per worker.
PREFETCH = 2


class _Pool:
    def __init__(self, work: Work, context: Any, size: int) -> None:
        self._mp = _start_method()
        self._work = work
        self._context = context
        self.start_failures = 0
        self.workers: list[_Worker] = []
        with _sigint_ignored():
            self.workers = [self._spawn() for _ in range(size)]

    def _spawn(self) -> _Worker:
        parent, child = self._mp.Pipe()
        process = self._mp.Process(
            target=_worker_main, args=(child, self._work, self._context), daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def replace(self, worker: _Worker) -> _Worker:
        self.kill(worker)
        if not worker.ready:
            self.start_failures += 1
            if self.start_failures >= MAX_START_FAILURES:
                raise RuntimeError(
                    f"worker processes die as they start ({_died(worker)}); "
                    "is kerasfix installed correctly?"
                )
        else:
            self.start_failures = 0
        with _sigint_ignored():
            fresh = self._spawn()
        self.workers[self.workers.index(worker)] = fresh
        return fresh

    @staticmethod
    def kill(worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.conn.close()

    def close(self) -> None:
        for worker in self.workers:
            if not worker.pending and worker.process.is_alive():
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(0 if worker.pending else 0.5)
            self.kill(worker)


def _start_method() -> Any:  # ForkContext | ForkServerContext
    """fork while it is safe: instant, and the workers share the imports already done (a
    fork server imports kerasfix again, ~0.5 s). It is not safe once the parent runs other
    Python threads or has TensorFlow loaded (its thread pools do not survive a fork): then a
    fork server, started clean."""
    if (
        sys.platform == "linux"
        and "tensorflow" not in sys.modules
        and threading.active_count() == 1
    ):
        return multiprocessing.get_context("fork")
    server = multiprocessing.get_context("forkserver")
    # "__main__" too: the server imports the main script once, so each forked worker finds it
    # already imported instead of importing it again (typer, rich: ~0.3 s a worker).
    server.set_forkserver_preload(["__main__", "kerasfix.api"])
    return server


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start processes with Ctrl-C ignored: the fork server inherits that, and a Ctrl-C while
    it imports would print its traceback. The parent checks for Ctrl-C right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _died(worker: _Worker) -> str:
    code = worker.process.exitcode
    if code is not None and code < 0:
        try:
            return f"reading it crashed the reader process ({signal.Signals(-code).name})"
        except ValueError:
            return f"reading it crashed the reader process (signal {-code})"
    return f"the reader process exited unexpectedly (exit code {code})"


def run_local(
    work: Work,
    context: Any,
    jobs: list[Job],
    size: int,
    timeout: float | None,
    failed: Failed,
    timeout_name: str = "--file-timeout",
) -> Iterator[Any]:
    """Yield one result per job, in the order they complete. A job whose worker crashes,
    raises or runs past `timeout` seconds (counted from when a started worker takes it)
    yields `failed(job, reason)` instead; a worker that dies while idle is replaced and
    costs nothing."""
    if not jobs:
        return
    pool = _Pool(work, context, min(size, len(jobs)))
    queue = deque(range(len(jobs)))
    finished = 0
    # One selector for the run (multiprocessing's wait() builds one per call): each worker's
    # pipe and process sentinel, re-registered when a worker is replaced.
    selector = selectors.DefaultSelector()

    def watch(worker: _Worker) -> None:
        selector.register(worker.conn, selectors.EVENT_READ, worker)
        selector.register(worker.process.sentinel, selectors.EVENT_READ, worker)

    for worker in pool.workers:
        watch(worker)
    try:
        while finished < len(jobs):
            now = time.monotonic()
            for worker in pool.workers:
                while worker.ready and queue and len(worker.pending) < PREFETCH:
                    index = queue.popleft()
                    try:
                        worker.conn.send((index, jobs[index]))
                    except OSError:  # it died while idle: the job goes to another worker
                        queue.appendleft(index)
                        break
                    if not worker.pending:
                        worker.started = now
                    worker.pending.append(index)
            busy = [w for w in pool.workers if w.pending]
            wait_for = None
            if timeout is not None and busy:
                wait_for = max(0.0, min(w.started for w in busy) + timeout - time.monotonic())
            touched = {key.data for key, _ in selector.select(wait_for)}
            if timeout is not None:
                touched.update(w for w in busy if time.monotonic() - w.started >= timeout)
            for worker in touched:
                broken = False
                try:
                    while worker.conn.poll():  # every result waiting counts, even if late
                        tag, ok, value = worker.conn.recv()
                        if tag == READY:
                            worker.ready = True
                            continue
                        worker.pending.popleft()
                        worker.started = time.monotonic()
                        finished += 1
                        yield value if ok else failed(jobs[tag], f"kerasfix failed: {value}")
                except (EOFError, OSError):
                    broken = True
                if broken or not worker.process.is_alive():
                    worker.process.join(1)
                    reason = _died(worker)
                elif (
                    worker.pending
                    and timeout is not None
                    and time.monotonic() - worker.started >= timeout
                ):
                    reason = f"reading it took longer than {timeout_name} {timeout:g} s"
                else:
                    continue
                running = worker.pending.popleft() if worker.pending else None
                queue.extendleft(reversed(worker.pending))  # handed over, never started
                worker.pending.clear()
                selector.unregister(worker.conn)
                selector.unregister(worker.process.sentinel)
                watch(pool.replace(worker))
                if running is not None:
                    finished += 1
                    yield failed(jobs[running], reason)
    finally:
        selector.close()
        pool.close()
