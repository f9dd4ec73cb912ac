"""Atomic writes: a temp file in the target folder, fsync, rename, fsync the folder.

A reader never sees a half-written output, and a failed or interrupted write leaves the
previous output (or nothing) behind. Temp files are named `.kerasfix-*.part`, which data
discovery skips.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from kerasfix.errors import UsageError

HASH_BLOCK = 8 * 1024 * 1024


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(final: str, suffix: str = ".part") -> Iterator[str]:
    """Yield a temp path beside `final`; on success it replaces `final` atomically.
    (`suffix`: Keras insists that the path it saves a model to ends in `.keras`.)"""
    folder = os.path.dirname(os.path.abspath(final))
    os.makedirs(folder, exist_ok=True)
    if os.path.islink(final):
        raise UsageError(f"{final} is a symbolic link; kerasfix does not write through links")
    fd, tmp = tempfile.mkstemp(prefix=".kerasfix-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        _fsync_dir(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
