"""One repair at a time per `--out`: an advisory lock file inside DIR.

Two repairs writing one DIR would interleave outputs and overwrite each other's manifest.
The second one exits 2 at once with a line naming the first's pid, instead of waiting: a
caller that wants to queue can retry. The lock is `flock` on `DIR/.kerasfix-lock` (hidden,
so discovery never reads it as data), held for the whole write-and-verify, and removed when
the run ends, so a finished DIR holds only outputs. A killed run leaves the file behind, but
the kernel releases its lock: the next run takes it over, and removes the temp files
(`.kerasfix-*`) the killed run left, since no other run can be writing them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from kerasfix.errors import WriteError

LOCK_NAME = ".kerasfix-lock"
TEMP_PREFIX = ".kerasfix-"  # repair.atomic's temp files: .kerasfix-XXXX.part (or .keras)
TEMP_SUFFIXES = (".part", ".keras")


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def sweep_temp_files(out_dir: str) -> list[str]:
    """Remove the temp files a killed run left under DIR (call only while holding the lock).
    Links are not followed; only kerasfix's own temp names are touched."""
    removed = []
    for root, _dirs, files in os.walk(out_dir):
        for name in files:
            # Only atomic_path's temp names: the resume journal (.kerasfix-repair.journal) is
            # the record of finished outputs, not a partial file.
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIXES):
                path = os.path.join(root, name)
                os.unlink(path)
                removed.append(path)
    return removed


@contextmanager
def out_dir_lock(out_dir: str) -> Iterator[None]:
    """Hold DIR's lock while the block runs; WriteError (exit 2) when another run holds it,
    or when DIR cannot be written at all."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no advisory locks to take
        yield
        return
    path = os.path.join(out_dir, LOCK_NAME)
    try:
        os.makedirs(out_dir, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise WriteError(
                    f"--out {out_dir} is being written by another kerasfix repair (pid "
                    f"{holder}); wait for it to finish, or choose another folder"
                ) from None
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed the file we locked: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        sweep_temp_files(out_dir)
    except OSError as exc:
        raise WriteError(f"cannot write under {out_dir}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        # Unlink while still holding the lock, so no other run can hold a removed file.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
