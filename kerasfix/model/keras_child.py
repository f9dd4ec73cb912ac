"""Keras in a child process: the questions kerasfix asks Keras run in one child per run.

Importing TensorFlow can abort the interpreter (an unsupported CPU, an address-space limit
such as `ulimit -v`), be killed for memory, or hang; a model's config can make Keras allocate
without bound. None of that may end a diagnose. Every question goes to a child process, asked
as a module-level function and plain-data arguments, answered as plain data; the child imports
Keras once and serves every question of the run. If it dies or runs past its time, the
question gets `KerasUnavailable` with the reason in words, which callers turn into a note
("Keras could not confirm: ..."), and the run goes on without Keras.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
import re
import resource
import signal
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, NoReturn, TypeVar

# A question slower than this is abandoned (importing TensorFlow alone takes seconds on a
# loaded 2-core machine; a build of a large model, a few more).
KERAS_CALL_SECONDS = 300.0
# What a missing Keras install is called in the reason.
INSTALL_HINT = "pip install 'kerasfix[tensorflow]'"

T = TypeVar("T")


class KerasUnavailable(Exception):
    """Keras could not answer: not installed, or its process died or timed out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KerasError(Exception):
    """Keras answered by raising: the question's own failure, in Keras's words."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message


# What TensorFlow raises when the process, not the question, is at fault: no thread, no
# memory, no mapping (an address-space limit, a full machine). Never a verdict on a model.
RESOURCE_ERRORS = re.compile(
    r"can't start new thread|Resource exhausted|OOM when allocating|out of memory|"
    r"Cannot allocate memory|failed to map segment|std::bad_alloc|pthread_create",
    re.IGNORECASE,
)


def raise_if_resource(exc: BaseException) -> None:
    """In the child's broad `except` clauses: a failure of the process's resources is raised
    on (the parent says Keras could not confirm), never taken as Keras's verdict."""
    if isinstance(exc, MemoryError) or RESOURCE_ERRORS.search(str(exc)):
        raise exc


class KerasTooOld(Exception):
    """The Keras installed is older than the floor that closes the model-loading advisories."""


# Keras 3.15.1 closes the advisories in loading untrusted models (docs/design.md, Safety):
# an older Keras is never asked to build a model kerasfix was given.
KERAS_FLOOR = (3, 15, 1)


def require_keras() -> Any:
    """Keras, imported quietly, in the child; KerasTooOld below the security floor."""
    from kerasfix.model.quiet import import_keras

    keras = import_keras()
    version = str(getattr(keras, "__version__", "0"))
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    if parts < KERAS_FLOOR:
        floor = ".".join(map(str, KERAS_FLOOR))
        raise KerasTooOld(
            f"Keras {version} is older than {floor}, the first release without the known "
            f"model-loading advisories ({INSTALL_HINT} upgrades it)"
        )
    return keras


def _child_main(conn: Connection, log_path: str) -> None:
    # Ctrl-C reaches the whole process group; the parent decides, and kills the child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # TensorFlow's native side writes to fd 2 (absl fatal logs and their stack traces when it
    # aborts): stderr is kerasfix's own lines, so the child's goes to a log the parent reads
    # for the reason of a death.
    with contextlib.suppress(OSError):
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(log, 2)
        os.close(log)
        if faulthandler.is_enabled():  # its own copy of the old stderr: to the log as well
            faulthandler.enable(file=sys.stderr)
    # Questions about shapes are answered on the CPU, whatever accelerators the host has.
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        func, args = message
        try:
            reply = (True, func(*args))
        except BaseException as exc:  # every failure goes back as words
            text = str(exc).strip().splitlines()
            reply = (False, (type(exc).__name__, text[0] if text else ""))
        try:
            conn.send(reply)
        except Exception as exc:  # an answer that does not pickle is a kerasfix bug
            conn.send((False, ("PicklingError", str(exc))))


def _death(process: BaseProcess, log_path: str | None = None) -> str:
    """Why the child ended, in words a user can act on."""
    code = process.exitcode
    limit = _address_space_limit()
    cause = _native_cause(log_path)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGABRT" and limit is not None:
            # What TensorFlow aborts on under `ulimit -v`: a thread or a mapping it cannot get.
            reason = "TensorFlow aborted (out of address space)"
        elif name == "SIGABRT":
            reason = "TensorFlow aborted (SIGABRT)"
        elif name == "SIGKILL":
            reason = "the Keras process was killed (SIGKILL; out of memory?)"
        else:
            reason = f"the Keras process crashed ({name})"
    else:
        reason = f"the Keras process exited unexpectedly (exit code {code})"
    if cause:
        reason += f": {cause}"
    if limit is not None:
        reason += f"; the address space is limited to {limit // 1024} KiB (ulimit -v)"
    return reason


# TensorFlow's own last words before an abort: an absl fatal check, a C++ exception.
_NATIVE_CAUSES = ("Check failed", "terminate called", "bad_alloc", "Cannot allocate memory")
CAUSE_CHARS = 160


def _native_cause(log_path: str | None) -> str | None:
    """The first line of the child's native stderr that says why it died, if one does."""
    if log_path is None:
        return None
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    for line in tail.splitlines():
        if line.lstrip().startswith("@"):  # a stack frame
            continue
        if any(word in line for word in _NATIVE_CAUSES):
            # absl's prefix ("F0000 00:00:... env.cc:84] ") is not for users.
            cause = line.split("] ", 1)[-1].strip().rstrip(".")
            return cause if len(cause) <= CAUSE_CHARS else cause[: CAUSE_CHARS - 3] + "..."
    return None


def _address_space_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


class KerasChild:
    """One child process that imports Keras on its first question and answers every later
    question of the run. Use as a context manager; the child is started on first use."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout or KERAS_CALL_SECONDS
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        # Once the child died or timed out, later questions get the same answer at once:
        # a second TensorFlow import would fail the same way, and cost the same time again.
        self.dead: str | None = None
        self.questions = 0
        self._log: str | None = None  # the child's stderr (see _child_main)

    def __enter__(self) -> KerasChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> tuple[BaseProcess, Connection]:
        if self._process is None or self._conn is None:
            from kerasfix.workers import _sigint_ignored, _start_method

            context = _start_method()
            parent, child = context.Pipe()
            fd, self._log = tempfile.mkstemp(prefix="kerasfix-keras-", suffix=".log")
            os.close(fd)
            with _sigint_ignored():
                process = context.Process(target=_child_main, args=(child, self._log), daemon=True)
                process.start()
            child.close()
            self._process, self._conn = process, parent
        return self._process, self._conn

    def call(self, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` in the child. Raises KerasUnavailable when the child cannot answer
        (Keras missing, a death, a timeout) and KerasError when `func` raised."""
        if self.dead is not None:
            raise KerasUnavailable(self.dead)
        self.questions += 1
        process, conn = self._start()
        try:
            conn.send((func, args))
        except (OSError, EOFError):
            process.join(1)
            self._fail(_death(process, self._log))
        try:
            ready = wait([conn, process.sentinel], self.timeout)
        except BaseException:  # Ctrl-C: the answer would come to the next question
            self.close()
            raise
        if conn in ready:
            try:
                ok, value = conn.recv()
            except (EOFError, OSError):
                process.join(1)
                self._fail(_death(process, self._log))
            if ok:
                result: T = value
                return result
            kind, message = value
            if kind in ("ModuleNotFoundError", "ImportError"):
                if re.search(r"No module named '(keras|tensorflow)'", message):
                    self._fail(f"Keras is not installed ({INSTALL_HINT})")
                # A library that would not load: an address-space limit, a broken install.
                self._fail(f"Keras could not be imported ({message})" + _limit_note())
            if kind == KerasTooOld.__name__:
                self._fail(message)
            if kind == "MemoryError":
                self._fail("Keras ran out of memory" + _limit_note())
            if RESOURCE_ERRORS.search(message):
                self._fail(f"Keras ran out of resources ({message})" + _limit_note())
            raise KerasError(kind, message)
        if process.sentinel in ready:
            process.join(1)
            self._fail(_death(process, self._log))
        self._fail(f"Keras took longer than {self.timeout:g} s to answer")

    def _fail(self, reason: str) -> NoReturn:
        self.dead = reason
        self.close()
        raise KerasUnavailable(reason)

    def close(self) -> None:
        process, conn, log = self._process, self._conn, self._log
        self._process = self._conn = self._log = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(0.5)
            if process.is_alive():
                process.kill()
                process.join(5)
        if log is not None:
            with contextlib.suppress(OSError):
                os.unlink(log)


def _limit_note() -> str:
    limit = _address_space_limit()
    return "" if limit is None else f" (the address space is limited to {limit // 1024} KiB)"


_SHARED: KerasChild | None = None


def shared_child() -> KerasChild:
    """The process's Keras child, kept for the next run: a library caller (a notebook, a test
    suite, a script calling kerasfix in a loop) pays for the TensorFlow import once. A child
    that died is replaced: the next run deserves its own try. Closed when Python exits."""
    global _SHARED
    if _SHARED is None or _SHARED.dead is not None:
        if _SHARED is None:
            atexit.register(_close_shared)
        _SHARED = KerasChild()
    return _SHARED


def _close_shared() -> None:
    if _SHARED is not None:
        _SHARED.close()
