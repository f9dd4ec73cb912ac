"""`.npz`: each member's `.npy` header, read from the zip without inflating the data."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import IO

from kerasfix import safeio
from kerasfix.errors import DataReadError
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.npy import check_declared_size, read_header, ref_from_header
from kerasfix.loaders.ragged import describe_object_member

MAX_MEMBERS = safeio.MAX_ARCHIVE_MEMBERS
# Enough for the header of any real .npy (numpy caps headers at 10 kB).
HEADER_READ_BYTES = 16 * 1024
# A member inflating more than this many times its stored size is a zip bomb (past 64 MiB).
MAX_RATIO = 1000


def _data_start(fh: IO[bytes], info: zipfile.ZipInfo) -> int | None:
    """Where a stored member's bytes begin: past its local header, whose name and extra
    fields may differ in length from the central directory's."""
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        return None
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    return int(info.header_offset) + 30 + int(name_length) + int(extra_length)


def read_npz(path: str, allow_pickle: bool = False) -> list[ArrayRef]:
    safeio.regular_file_size(path)
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                infos = safeio.check_archive(archive, MAX_MEMBERS)
            except safeio.LimitError as exc:
                raise DataReadError(str(exc)) from None
            refs = []
            for info in infos:
                if info.is_dir() or not info.filename.endswith(".npy"):
                    continue  # np.load reads only .npy members; a README beside them is fine
                key = info.filename.removesuffix(".npy")
                if info.file_size > 64 << 20 and info.file_size > MAX_RATIO * max(
                    info.compress_size, 1
                ):
                    raise DataReadError(f"member {key!r} inflates past {MAX_RATIO}x (a zip bomb)")
                start = None
                if info.compress_type == zipfile.ZIP_STORED and archive.fp is not None:
                    start = _data_start(archive.fp, info)
                if start is not None and archive.fp is not None:
                    # Stored: the header is right there; no decompressor, no CRC pass.
                    archive.fp.seek(start)
                    head = archive.fp.read(min(HEADER_READ_BYTES, info.file_size))
                else:
                    with archive.open(info) as member:
                        head = member.read(HEADER_READ_BYTES)
                stream = io.BytesIO(head)
                try:
                    shape, fortran, dtype = read_header(stream)
                except DataReadError as exc:
                    raise DataReadError(f"member {key!r}: {exc.reason}") from None
                check_declared_size(shape, dtype, info.file_size - stream.tell(), f"member {key!r}")
                raw = None if start is None else (start + stream.tell(), fortran)
                ref = ref_from_header(path, key, shape, dtype, allow_pickle, raw=raw)
                if dtype.hasobject:  # only reached with --allow-pickle
                    ref = describe_object_member(path, key)
                refs.append(ref)
            return refs
    # struct.error: zipfile's answer to some damaged extra fields.
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error) as exc:
        raise DataReadError(f"not a readable .npz zip ({exc})") from None
    except RuntimeError as exc:  # encrypted members
        raise DataReadError(str(exc).splitlines()[0]) from None
