"""Bounded, read-only file access shared by the model readers and the data loaders."""

from __future__ import annotations

import os
import stat
import zipfile

# A config.json / metadata.json larger than this is not a real model's.
MAX_JSON_BYTES = 64 * 1024 * 1024
# Members that inflate more than this many times are treated as zip bombs (past 1 MiB).
MAX_COMPRESSION_RATIO = 200
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"


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
