"""Reading an array's values in row chunks, with memory that does not grow with the file.

A `.npy` is read with plain `readinto` into one reused buffer (a memory map would count every
touched page of a 2 GiB file in the process's resident set); an `.npz` member is streamed from
the zip; an HDF5 dataset is sliced by rows.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.npy import read_header
from kerasfix.loaders.tfrecord import is_tfrecord_name

# About this many bytes per chunk: large enough for numpy to run at full speed.
CHUNK_BYTES = 8 * 1024 * 1024


def _rows_per_chunk(shape: tuple[int, ...], itemsize: int) -> int:
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize) if shape else itemsize
    return max(1, CHUNK_BYTES // row_bytes)


def iter_chunks(ref: ArrayRef) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    """(first row, rows) pairs covering the array in order; a 0-d array is one chunk."""
    if os.path.isdir(ref.path):  # an image-class folder: its labels (pixels are never scanned)
        from kerasfix.loaders.images import iter_label_chunks

        yield from iter_label_chunks(ref)
    elif ref.path.lower().endswith((".csv", ".tsv")):
        from kerasfix.loaders.csv_file import iter_csv_chunks

        yield from iter_csv_chunks(ref)
    elif ref.path.lower().endswith((".jsonl", ".json")):
        from kerasfix.loaders.ragged import iter_json_values

        yield from iter_json_values(ref)
    elif is_tfrecord_name(ref.path):
        from kerasfix.loaders import tfrecord

        yield from tfrecord.iter_chunks(ref)
    elif ref.raw is not None:
        offset, dtype, fortran = ref.raw
        with open(ref.path, "rb") as fh:
            fh.seek(offset)
            yield from _stream_data(
                fh, tuple(int(d or 0) for d in ref.shape), fortran, np.dtype(dtype)
            )
    elif ref.path.lower().endswith(".npz"):
        yield from _npz_chunks(ref)
    elif ref.path.lower().endswith((".h5", ".hdf5")):
        yield from _h5_chunks(ref)
    else:
        with open(ref.path, "rb") as fh:
            yield from _stream_chunks(fh)


def _stream_chunks(fh: Any) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    shape, fortran, dtype = read_header(fh)
    yield from _stream_data(fh, shape, fortran, dtype)


def _stream_data(
    fh: Any, shape: tuple[int, ...], fortran: bool, dtype: np.dtype[Any]
) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    if fortran and len(shape) > 1:
        # Rows of a Fortran-ordered array are not contiguous: read it whole (rare in practice).
        count = int(np.prod(shape, dtype=np.int64))
        data = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype)
        yield 0, data.reshape(shape, order="F")
        return
    if not shape:
        yield 0, np.frombuffer(fh.read(dtype.itemsize), dtype=dtype).reshape(())
        return
    # No bigger than the array: a small shard should not cost an 8 MiB allocation.
    rows = min(_rows_per_chunk(shape, dtype.itemsize), max(1, shape[0]))
    row_items = int(np.prod(shape[1:], dtype=np.int64))
    buffer = np.empty(rows * row_items, dtype=dtype)
    view = buffer.data.cast("B")
    start = 0
    while start < shape[0]:
        n = min(rows, shape[0] - start)
        want = n * row_items * dtype.itemsize
        got = 0
        while got < want:
            read = fh.readinto(view[got:want])
            if not read:
                raise EOFError(f"the data ends after {start + got // max(1, row_items)} rows")
            got += read
        yield start, buffer[: n * row_items].reshape((n, *shape[1:]))
        start += n


def _npz_chunks(ref: ArrayRef) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    with zipfile.ZipFile(ref.path) as archive, archive.open(f"{ref.key}.npy") as member:
        yield from _stream_chunks(member)


def _h5_chunks(ref: ArrayRef) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    import h5py

    with h5py.File(ref.path, "r", locking=False) as f:
        dataset = f[ref.key]
        if not dataset.shape:
            yield 0, np.asarray(dataset[()])
            return
        rows = _rows_per_chunk(dataset.shape, dataset.dtype.itemsize)
        for start in range(0, dataset.shape[0], rows):
            yield start, dataset[start : start + rows]
