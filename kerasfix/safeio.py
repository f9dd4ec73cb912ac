"""Bounded, read-only file access shared by the model readers and the data loaders."""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# A config.json / metadata.json larger than this is not a real model's.
MAX_JSON_BYTES = 64 * 1024 * 1024
# Members that inflate more than this many times are treated as zip bombs (past 1 MiB).
MAX_COMPRESSION_RATIO = 200
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
# More members than this is not a model or a dataset archive but a way to exhaust time/memory.
MAX_ARCHIVE_MEMBERS = 10_000
# One line of a .jsonl/.csv: a line is read whole, so it must be bounded (real lines are KBs).
MAX_LINE_CHARS = 16 * 1024 * 1024
# HDF5: past this many links the walk stops; deeper groups than this are hostile.
MAX_HDF5_LINKS = 100_000
MAX_HDF5_DEPTH = 64
# A dataset declaring more bytes than this and more than RATIO times what it stores is a
# shape bomb (Keras's own guard uses 4 GiB and 1000x; reading kerasfix's values is cheaper to
# exhaust, so the floor is lower).
HDF5_BOMB_FLOOR_BYTES = 64 * 1024 * 1024
HDF5_BOMB_RATIO = 1000


# How much more address space libhdf5 may take while it parses a file's metadata (a model's
# config attributes are KBs; a damaged global heap made it allocate 4 GiB, found by fuzzing).
NATIVE_PARSE_HEADROOM = 1 << 30


class LimitError(ValueError):
    """A file exceeds one of the reading limits above: hostile or broken, refused before any
    allocation it asks for."""


def regular_file_size(path: str) -> int:
    """The size of a regular file; OSError (with a readable reason) for anything else."""
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path} is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path} is not a regular file")
    return st.st_size


def sniff(path: str, n: int = 8) -> bytes:
    """The first bytes of a regular file (never blocks on a FIFO)."""
    regular_file_size(path)
    with open(path, "rb") as fh:
        return fh.read(n)


def is_hdf5(path: str) -> bool:
    """HDF5 signatures sit at 0, 512, 1024, 2048, ... (a user block may precede them)."""
    size = regular_file_size(path)
    with open(path, "rb") as fh:
        offset = 0
        while offset + 8 <= size and offset <= 1 << 20:
            fh.seek(offset)
            if fh.read(8) == HDF5_MAGIC:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def read_zip_member(archive: zipfile.ZipFile, name: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """One member's bytes, refusing duplicates, bombs and members that inflate past `limit`."""
    infos = [i for i in archive.infolist() if i.filename == name]
    if not infos:
        raise KeyError(name)
    if len(infos) > 1:
        raise ValueError(f"the archive holds {len(infos)} members named {name!r}")
    info = infos[0]
    if info.file_size > limit:
        raise ValueError(f"{name} declares {info.file_size} bytes (limit {limit})")
    if info.file_size > 1 << 20 and info.file_size > MAX_COMPRESSION_RATIO * max(
        info.compress_size, 1
    ):
        raise ValueError(f"{name} inflates {info.file_size // max(info.compress_size, 1)}x")
    with archive.open(info) as fh:
        data = fh.read(limit + 1)  # the declared size can lie: stop at the cap regardless
    if len(data) > limit:
        raise ValueError(f"{name} inflates past {limit} bytes")
    return data


def check_archive(
    archive: zipfile.ZipFile, limit: int = MAX_ARCHIVE_MEMBERS
) -> list[zipfile.ZipInfo]:
    """The members of a zip, refusing what no real .keras/.npz holds: too many members,
    duplicate names (readers disagree on which one counts), absolute or `..` names, and
    encrypted members. Names are never turned into paths, but a hostile name is refused
    rather than carried into an output."""
    infos = archive.infolist()
    if len(infos) > limit:
        raise LimitError(f"the archive holds {len(infos)} members (limit {limit})")
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if not name:  # zipfile itself fails on these (IndexError), found by `make fuzz`
            raise LimitError("the archive holds a member with an empty name")
        if name in seen:
            raise LimitError(f"the archive holds duplicate members named {name!r}")
        seen.add(name)
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise LimitError(f"the archive holds a member with an unsafe name {name!r}")
        if info.flag_bits & 0x1:
            raise LimitError(f"member {name!r} is encrypted")
    return infos


def bounded_lines(fh: TextIO, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of a text file, refusing one longer than `limit` characters before it is
    read whole (a 10 GB file without a newline is one line)."""
    number = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise LimitError(f"line {number} is longer than {limit} characters")
        yield line


def hdf5_refusals(f: Any) -> list[str]:
    """Why an open h5py.File must not be read: links and storage that make libhdf5 read other
    files on the host (security.md §1.5), shape bombs, and link trees too large or too deep.
    Datasets are inspected by their metadata only."""
    import h5py

    problems: list[str] = []
    visited = 0

    def visit(name: str, link: Any) -> bool | None:
        nonlocal visited
        visited += 1
        if visited > MAX_HDF5_LINKS:
            problems.append(f"more than {MAX_HDF5_LINKS} links")
            return True  # stops the walk
        if name.count("/") >= MAX_HDF5_DEPTH:
            problems.append(f"groups nest deeper than {MAX_HDF5_DEPTH} levels")
            return True
        if isinstance(link, h5py.ExternalLink | h5py.SoftLink):
            problems.append(f"{name!r} is a {type(link).__name__}, which kerasfix refuses")
            return None
        obj = f.get(name)
        if not isinstance(obj, h5py.Dataset) or obj.shape is None:
            return None
        if obj.external or obj.is_virtual:
            problems.append(f"dataset {name!r} stores its data in other files")
            return None
        declared = obj.dtype.itemsize
        for d in obj.shape:
            declared *= int(d)
        stored = obj.id.get_storage_size()
        if declared > HDF5_BOMB_FLOOR_BYTES and declared > HDF5_BOMB_RATIO * max(stored, 1):
            problems.append(
                f"dataset {name!r} declares {declared} bytes but stores {stored} (a shape bomb)"
            )
        return None

    f.visititems_links(visit)
    return problems


@contextmanager
def address_space_cap(headroom: int = NATIVE_PARSE_HEADROOM) -> Iterator[None]:
    """Lower this process's address-space limit to what it uses now plus `headroom` while
    native code (libhdf5) parses untrusted metadata, so a size it reads from a damaged file
    fails its allocation (an error kerasfix reports) instead of taking gigabytes. The limit
    is restored after; it only stops new allocations. Linux only (elsewhere, no cap)."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield  # already capped tighter
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
