"""Writers: one per format, streaming row chunks through the planned transforms.

Every array of the input is kept, repaired or not (`.npz` members with their compression,
`.h5` datasets with their attributes and filters, `.jsonl` fields). Inputs are only ever
opened for reading.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.chunks import iter_chunks
from kerasfix.loaders.npy import read_header
from kerasfix.loaders.ragged import iter_sequences
from kerasfix.repair.transforms import (
    ELEMENTWISE,
    HEADER_ONLY,
    apply_all,
    output_spec,
    pad_sequences,
)

Array = np.ndarray[Any, Any]
Steps = list[tuple[str, dict[str, Any]]]
COPY_BLOCK = 8 * 1024 * 1024


@dataclass
class ArrayJob:
    """How one array becomes its output: transforms, and which rows survive (None: all)."""

    ref: ArrayRef
    steps: Steps
    keep: Array | None = None  # bool per input row

    def rows_out(self) -> int:
        n = self.ref.shape[0] if self.ref.shape else 1
        return int(self.keep[:n].sum()) if self.keep is not None else n

    @property
    def pad(self) -> dict[str, Any] | None:
        return next((p for name, p in self.steps if name == "pad_sequences"), None)

    @property
    def sequence_steps(self) -> Steps:
        """Steps applied to each sequence of a ragged array before padding."""
        return [(n, p) for n, p in self.steps if self.ref.ragged and n in ELEMENTWISE]

    @property
    def array_steps(self) -> Steps:
        skip = {"pad_sequences", "add_batch_axis"} | (ELEMENTWISE if self.ref.ragged else set())
        return [(n, p) for n, p in self.steps if n not in skip]

    def padding(self) -> dict[str, Any]:
        """The pad_sequences params; sequences of one length that are only mapped (--oov-id)
        become one array of that length, which loses nothing."""
        if self.pad is not None:
            return self.pad
        if self.ref.row_length is None:
            raise ValueError(f"{self.ref.path}: sequences of several lengths need padding")
        step = {"step_shape": list(self.ref.step_shape)} if self.ref.step_shape else {}
        return {"maxlen": self.ref.row_length, "dtype": self.ref.dtype, **step}


def iter_output(job: ArrayJob) -> Iterator[Array]:
    """The output rows of one array, chunk by chunk."""
    ref = job.ref
    if any(name == "add_batch_axis" for name, _ in job.steps):
        # One sample without its batch axis: small by definition, read whole.
        # Copies: the reader reuses one buffer for every chunk.
        whole = np.concatenate([np.array(c) for _, c in iter_chunks(ref)]) if ref.shape else None
        if whole is None:
            whole = next(iter_chunks(ref))[1]
        yield apply_all(whole[np.newaxis, ...], job.array_steps)
        return
    if ref.ragged:
        params = job.padding()
        for row0, sequences in iter_sequences(ref):
            if job.keep is not None:
                mask = job.keep[row0 : row0 + len(sequences)]
                sequences = [s for s, k in zip(sequences, mask, strict=False) if k]
            sequences = [apply_all(s, job.sequence_steps) for s in sequences]
            if sequences:
                yield apply_all(pad_sequences(sequences, params), job.array_steps)
        return
    for row0, chunk in iter_chunks(ref):
        if chunk.ndim == 0:
            yield apply_all(chunk.reshape(1), job.array_steps)
            continue
        if job.keep is not None:
            chunk = chunk[job.keep[row0 : row0 + chunk.shape[0]]]
        yield apply_all(chunk, job.array_steps)


def output_shape_dtype(job: ArrayJob) -> tuple[tuple[int, ...], np.dtype[Any]]:
    ref = job.ref
    if ref.ragged:
        params = job.padding()
        step = tuple(int(d) for d in params.get("step_shape", ()))
        sample: tuple[int, ...] = (int(params.get("maxlen", 0)), *step)
        dtype = np.dtype(params.get("dtype", "int32"))
        sample, dtype = output_spec(sample, dtype, job.array_steps)
        return (job.rows_out(), *sample), dtype
    if any(name == "add_batch_axis" for name, _ in job.steps):
        sample, dtype = output_spec(ref.shape, np.dtype(ref.dtype), job.array_steps)
        return (1, *sample), dtype
    sample, dtype = output_spec(ref.shape[1:], np.dtype(ref.dtype), job.array_steps)
    return (job.rows_out(), *sample), dtype


def _npy_header(fh: IO[bytes], shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": shape,
    }
    try:
        np.lib.format.write_array_header_1_0(fh, header)
    except ValueError:  # a header past 64 KiB needs format 2.0
        np.lib.format.write_array_header_2_0(fh, header)


def write_npy_stream(fh: IO[bytes], job: ArrayJob) -> None:
    shape, dtype = output_shape_dtype(job)
    _npy_header(fh, shape, dtype)
    for chunk in iter_output(job):
        fh.write(np.ascontiguousarray(chunk, dtype=dtype).tobytes())


class _HashingReader:
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        return data


# Hand what was written to the disk every this many bytes, while the copy goes on.
WRITEBACK_BYTES = 64 * 1024 * 1024


def _start_writeback(fh: IO[bytes], offset: int, length: int) -> None:
    """Start writing a range to disk now, without waiting: the fsync before the rename then
    finds little left to do, and the disk works while the copy and the hashes run (on Linux,
    POSIX_FADV_DONTNEED starts writeback of dirty pages, then drops them from the cache,
    where an output nobody reads again would only push out the input)."""
    fh.flush()
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fh.fileno(), offset, length, os.POSIX_FADV_DONTNEED)


def header_only_copy(src: str, dst: str, job: ArrayJob) -> tuple[str, str]:
    """A reshape of a C-ordered .npy: a new header and the same bytes, hashed on the way.
    Returns the sha256 of the input and of the output."""
    shape, dtype = output_shape_dtype(job)
    in_digest, out_digest = hashlib.sha256(), hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout, ThreadPoolExecutor(2) as pool:
        read_header(fin)
        offset = fin.tell()
        fin.seek(0)
        in_digest.update(fin.read(offset))
        _npy_header(fout, shape, dtype)
        fout.flush()
        with open(dst, "rb") as head:
            out_digest.update(head.read())
        # One reused buffer (fresh 8 MiB reads cost a page fault per page), and the two
        # digests on threads beside the write: hashlib releases the GIL on large buffers.
        buffer = bytearray(COPY_BLOCK)
        view = memoryview(buffer)
        written = flushed = fout.tell()
        while n := fin.readinto(buffer):
            block = view[:n]
            hashed = [pool.submit(in_digest.update, block), pool.submit(out_digest.update, block)]
            fout.write(block)
            written += n
            if written - flushed >= WRITEBACK_BYTES:
                _start_writeback(fout, flushed, written - flushed)
                flushed = written
            for future in hashed:
                future.result()
    return in_digest.hexdigest(), out_digest.hexdigest()


def can_copy_header_only(job: ArrayJob) -> bool:
    if job.keep is not None or job.ref.ragged or job.ref.key is not None:
        return False
    if not all(name in HEADER_ONLY or name == "add_batch_axis" for name, _ in job.steps):
        return False
    with open(job.ref.path, "rb") as fh:
        _, fortran, _ = read_header(fh)
    return not fortran


def write_npy(dst: str, job: ArrayJob) -> None:
    with open(dst, "wb") as fh:
        write_npy_stream(fh, job)


def write_npz(src: str, dst: str, jobs: dict[str | None, ArrayJob]) -> None:
    """Every member, in order, with its own compression; repaired ones streamed through."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", allowZip64=True) as zout:
        for info in zin.infolist():
            key = info.filename.removesuffix(".npy")
            target = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            target.compress_type = info.compress_type
            target.external_attr = info.external_attr
            job = jobs.get(key)
            with zout.open(target, "w", force_zip64=True) as member:
                if job is not None:
                    write_npy_stream(member, job)
                else:
                    with zin.open(info) as source:
                        while block := source.read(COPY_BLOCK):
                            member.write(block)


def write_h5(src: str, dst: str, jobs: dict[str | None, ArrayJob]) -> None:
    """Datasets and attributes kept; repaired datasets rewritten in chunks with the same
    compression filter."""
    import h5py

    with h5py.File(src, "r", locking=False) as fin, h5py.File(dst, "w") as fout:
        for name, value in fin.attrs.items():
            fout.attrs[name] = value

        def copy_group(source: Any, target: Any) -> None:
            for name, item in source.items():
                path = item.name.lstrip("/")
                if isinstance(item, h5py.Group):
                    if not any(k and (k == path or k.startswith(path + "/")) for k in jobs):
                        source.copy(item, target, name=name)
                        continue
                    child = target.create_group(name)
                    for attr, value in item.attrs.items():
                        child.attrs[attr] = value
                    copy_group(item, child)
                elif path in jobs:
                    job = jobs[path]
                    shape, dtype = output_shape_dtype(job)
                    options: dict[str, Any] = {}
                    if (item.compression or item.shuffle or item.fletcher32) and shape and shape[0]:
                        options = {
                            "compression": item.compression,
                            "compression_opts": item.compression_opts,
                            "shuffle": item.shuffle,
                            "fletcher32": item.fletcher32,
                            "chunks": True,
                        }
                    out = target.create_dataset(name, shape=shape, dtype=dtype, **options)
                    for attr, value in item.attrs.items():
                        # Dimension-scale references point into the old file: they would dangle.
                        if attr not in ("DIMENSION_LIST", "REFERENCE_LIST"):
                            out.attrs[attr] = value
                    start = 0
                    for chunk in iter_output(job):
                        out[start : start + len(chunk)] = chunk
                        start += len(chunk)
                else:
                    source.copy(item, target, name=name)

        copy_group(fin, fout)


def write_json_records(
    src: str, dst: str, jobs: dict[str | None, ArrayJob], keep: Array | None
) -> None:
    """`.jsonl` (one record a line) or `.json`: fields transformed record by record, every
    other field kept; rows dropped by `keep` are left out."""
    from kerasfix.loaders.ragged import _records

    jsonl = src.lower().endswith(".jsonl")

    def fix(key: str | None, value: Any) -> Any:
        job = jobs.get(key)
        if job is None:
            return value
        if job.ref.ragged:
            sequence = apply_all(np.asarray(value, dtype=job.ref.dtype), job.sequence_steps)
            if job.pad is None:  # only mapped (--oov-id): still one list per record
                return sequence.tolist()
            row = pad_sequences([sequence], job.pad)
        else:
            row = np.asarray([value], dtype=job.ref.dtype)
        return apply_all(row, job.array_steps)[0].tolist()

    with open(dst, "w", encoding="utf-8") as out:
        if jsonl:
            for index, (_, record) in enumerate(_records(src)):
                if keep is not None and not (index < len(keep) and keep[index]):
                    continue
                if isinstance(record, list):
                    record = fix("x", record)
                else:
                    record = {k: fix(k, v) for k, v in record.items()}
                out.write(json.dumps(record) + "\n")
            return
        records = [r for _, r in _records(src)]
        if len(records) == 1 and isinstance(records[0], dict):
            columns = records[0]
            result = {}
            for key, column in columns.items():
                rows = [
                    v for i, v in enumerate(column) if keep is None or (i < len(keep) and keep[i])
                ]
                result[key] = [fix(key, v) for v in rows]
            json.dump(result, out)
        else:
            rows = [r for i, r in enumerate(records) if keep is None or (i < len(keep) and keep[i])]
            json.dump([fix("x", r) for r in rows], out)
