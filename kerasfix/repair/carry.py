"""Carrying unchanged data into repair's `--out`, so DIR is a folder to train from.

Every DATA file of the run that no action changes (and every label sibling, and --y-file)
is put under DIR at the path it would have been written to: a hard link where DIR shares the
input's filesystem (instant, no space), a streamed byte copy across filesystems or where the
filesystem refuses links. Like every write of repair it is atomic (a temp name in the target
folder, then `os.replace`), never follows a link at the source, and never writes through one
at the target. A hard link shares the input's bytes: kerasfix itself only ever replaces names
in DIR, never rewrites a file in place, so the input stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from typing import Any

from kerasfix.errors import DataReadError, UsageError
from kerasfix.repair.atomic import HASH_BLOCK, _fsync_dir, atomic_path, sha256_file

# What link(2) answers where a copy is the way: another filesystem, one without hard links
# (FAT, some network mounts), a file with too many links, or a policy that forbids linking
# files one does not own (fs.protected_hardlinks).
LINK_REFUSED = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}
)


@dataclass(frozen=True)
class CarryPlan:
    """One unchanged DATA file (or image-class folder) and where it goes under DIR."""

    path: str
    output: str  # relative to DIR
    folder: bool = False  # an image-class folder: its files are carried one by one


def _regular(path: str) -> os.stat_result:
    """lstat of a regular file; DataReadError (the reasons loaders.images gives) otherwise."""
    try:
        status = os.lstat(path)
    except OSError as exc:
        raise DataReadError(exc.strerror or str(exc)) from None
    if stat.S_ISLNK(status.st_mode):
        raise DataReadError("a symbolic link: kerasfix does not follow links")
    if not stat.S_ISREG(status.st_mode):
        raise DataReadError("not a regular file")
    return status


def same_file(path: str, final: str) -> bool:
    """`final` is already a hard link to `path` (nothing to carry)."""
    try:
        a, b = os.stat(path), os.lstat(final)
    except OSError:
        return False
    return stat.S_ISREG(b.st_mode) and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def copy_file(source: str, final: str) -> str:
    """A byte copy of the regular file `source` at `final`, atomically; its sha256. Reads at
    most the size it had when opened (a file that grows meanwhile cannot make it endless)."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    digest = hashlib.sha256()
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise DataReadError("not a regular file")
        with atomic_path(final) as tmp, open(tmp, "wb") as out:
            left = status.st_size
            while left > 0:
                block = os.read(fd, min(left, HASH_BLOCK))
                if not block:
                    break
                digest.update(block)
                out.write(block)
                left -= len(block)
    finally:
        os.close(fd)
    return digest.hexdigest()


def link_or_copy(source: str, final: str) -> tuple[str, str | None]:
    """Put the regular file `source` at `final`: ("hardlink", None), or ("copy", sha256) where
    the filesystem refuses the link. An existing `final` is replaced by name, atomically."""
    status = _regular(source)
    folder = os.path.dirname(os.path.abspath(final))
    os.makedirs(folder, exist_ok=True)
    if os.path.islink(final):
        raise UsageError(f"{final} is a symbolic link; kerasfix does not write through links")
    tmp = os.path.join(folder, f".kerasfix-{secrets.token_hex(8)}.part")
    try:
        os.link(source, tmp, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in LINK_REFUSED:
            raise
        return "copy", copy_file(source, final)
    try:
        linked = os.lstat(tmp)
        if (linked.st_dev, linked.st_ino) != (status.st_dev, status.st_ino):
            raise DataReadError("replaced while it was carried: not carried")
        os.replace(tmp, final)
        _fsync_dir(folder)
    finally:
        # rename(2) between two names of one file does nothing and leaves the temp name.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return "hardlink", None


def carry_file(plan: CarryPlan, out_dir: str, before: dict[str, Any] | None) -> dict[str, Any]:
    """Carry one file; its manifest entry. Already right under DIR (the same file, or a copy
    an earlier run recorded whose bytes still match the input's): kept, nothing written."""
    final = os.path.join(out_dir, plan.output)
    entry: dict[str, Any] = {"input": plan.path, "output": plan.output}
    if same_file(plan.path, final):
        return {**entry, "how": "hardlink", "kept": True}
    if before is not None and before.get("how") == "copy" and before.get("input") == plan.path:
        try:
            recorded = before.get("sha256")
            if sha256_file(final) == recorded and sha256_file(plan.path) == recorded:
                return {**entry, "how": "copy", "sha256": recorded, "kept": True}
        except OSError:
            pass
    how, digest = link_or_copy(plan.path, final)
    return {**entry, "how": how, **({"sha256": digest} if digest else {}), "kept": False}


def carry_folder(plan: CarryPlan, out_dir: str) -> dict[str, Any]:
    """Carry an image-class folder file by file (the files Keras indexes, in its order)."""
    from kerasfix.loaders.images import iter_class_files

    counts = {"hardlink": 0, "copy": 0, "kept": 0}
    not_carried: list[dict[str, str]] = []
    for _, relative in iter_class_files(plan.path):
        source = os.path.join(plan.path, relative)
        final = os.path.join(out_dir, plan.output, relative)
        if same_file(source, final):
            counts["kept"] += 1
            continue
        try:
            how, _ = link_or_copy(source, final)
        except DataReadError as exc:  # a link inside the dataset: reported, never followed
            not_carried.append({"path": relative, "reason": exc.reason})
            continue
        counts[how] += 1
    return {
        "input": plan.path,
        "output": plan.output,
        "format": "images",
        "images_linked": counts["hardlink"],
        "images_copied": counts["copy"],
        "images_kept": counts["kept"],
        "images_not_carried": not_carried,
        "kept": not counts["hardlink"] and not counts["copy"] and not not_carried,
    }
