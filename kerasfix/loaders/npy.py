"""`.npy`: shape and dtype from the header; the data stays on disk until memory-mapped."""

from __future__ import annotations

import functools
import io
from typing import Any, BinaryIO

import numpy as np

from kerasfix import safeio
from kerasfix.errors import DataReadError
from kerasfix.loaders.base import ArrayRef

# numpy's own default header cap (a larger header is hostile: literal_eval is not safe on it).
MAX_HEADER_BYTES = 10_000


def read_header(fh: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) from an open .npy stream, translating numpy's many
    failure types (OverflowError, IndexError, TokenError, ...) into one DataReadError."""
    start = fh.tell()
    if fh.read(6) != safeio.NPY_MAGIC:
        raise DataReadError("not a .npy file (no NUMPY magic)")
    fh.seek(start)
    try:
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise DataReadError(f"unsupported .npy format version {version}")
        size_bytes = fh.read(2 if version == (1, 0) else 4)
        length = int.from_bytes(size_bytes, "little")
        header = fh.read(min(length, MAX_HEADER_BYTES + 1))
        if len(header) < min(length, MAX_HEADER_BYTES + 1):
            raise DataReadError(
                "a corrupt .npy header (EOF: reading array header, "
                f"expected {length} bytes got {len(header)})"
            )
        if length > MAX_HEADER_BYTES:
            raise DataReadError(
                f"a corrupt .npy header (it claims {length} bytes; the limit is {MAX_HEADER_BYTES})"
            )
        shape, fortran, dtype = _parse_header(version, size_bytes + header)
    except DataReadError:
        raise
    except Exception as exc:  # numpy raises ValueError, OverflowError, IndexError, TokenError...
        raise DataReadError(f"a corrupt .npy header ({_first_line(exc)})") from None
    if any(d < 0 for d in shape):
        raise DataReadError(f"a corrupt .npy header (negative dimension in {shape})")
    return shape, fortran, dtype


@functools.lru_cache(maxsize=256)
def _parse_header(
    version: tuple[int, int], header: bytes
) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """numpy's own (safe) parser, memoised: a folder of shards repeats the same few headers,
    and each parse costs a literal_eval."""
    stream = io.BytesIO(header)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            stream, max_header_size=MAX_HEADER_BYTES
        )
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(
            stream, max_header_size=MAX_HEADER_BYTES
        )
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def expected_bytes(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count * dtype.itemsize


def check_declared_size(
    shape: tuple[int, ...], dtype: np.dtype[Any], available: int, where: str
) -> None:
    """A header that claims more bytes than the file holds is truncated or hostile."""
    if dtype.hasobject:
        return  # pickled payloads have no fixed size
    need = expected_bytes(shape, dtype)
    if need > available:
        raise DataReadError(
            f"truncated: the header of {where} declares {need} bytes of data, "
            f"the file holds {available}"
        )


def ref_from_header(
    path: str,
    key: str | None,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    allow_pickle: bool,
    raw: tuple[int, bool] | None = None,
) -> ArrayRef:
    """`raw`: (data offset, fortran_order) where the data is stored as is."""
    if dtype.hasobject and not allow_pickle:
        where = f"member {key!r}" if key else "the file"
        raise DataReadError(
            f"{where} holds Python objects (dtype=object), which only unpickling can read; "
            "kerasfix never unpickles unless --allow-pickle is given"
        )
    plain = not dtype.hasobject and dtype.fields is None and dtype.subdtype is None
    return ArrayRef(
        path=path,
        key=key,
        shape=shape,
        dtype=str(dtype),
        kind=dtype.kind,
        raw=(raw[0], dtype.str, raw[1]) if raw is not None and plain else None,
    )


def read_npy(path: str, allow_pickle: bool = False) -> ArrayRef:
    size = safeio.regular_file_size(path)
    with open(path, "rb") as fh:
        shape, fortran, dtype = read_header(fh)
        offset = fh.tell()
    check_declared_size(shape, dtype, size - offset, "the file")
    return ref_from_header(path, None, shape, dtype, allow_pickle, raw=(offset, fortran))


def open_npy(ref: ArrayRef) -> np.ndarray[Any, Any]:
    """The array, memory-mapped read-only: pages are read as they are touched."""
    array: np.ndarray[Any, Any] = np.load(ref.path, mmap_mode="r", allow_pickle=False)
    return array
