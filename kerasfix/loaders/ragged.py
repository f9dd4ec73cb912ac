"""Variable-length sequences: `.jsonl`/`.json` token lists, HDF5 variable-length datasets,
and `.npz` object arrays (only with --allow-pickle, which is what reading them takes).

A `.jsonl` line is a token list (`[3, 17, 5]`, key `x`) or an object whose list fields are
sequences and whose number fields are labels (`{"tokens": [3, 17], "label": 1}`). A `.json`
file is a list of token lists, or an object of such lists and label lists.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from kerasfix import safeio
from kerasfix.errors import DataReadError
from kerasfix.loaders import tfrecord
from kerasfix.loaders.base import ArrayRef

# Sequences per chunk when streaming.
SEQUENCES_PER_CHUNK = 4096
# A .json file is parsed whole, and Python objects take ~5-30x the text's size: past this
# size, use .jsonl (read line by line).
MAX_JSON_BYTES = 64 * 1024 * 1024


def _kind_of(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "b"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "i"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "f"
    return "U"


class _Field:
    """What one key holds across the records: sequences or scalars, and of what kind."""

    def __init__(self) -> None:
        self.count = 0
        self.ragged: bool | None = None
        self.kinds: set[str] = set()

    def add(self, value: Any, where: str) -> None:
        ragged = isinstance(value, list)
        for number in value if ragged else [value]:
            # JSON integers are unbounded; numpy's are 64-bit (found by `make fuzz`).
            if isinstance(number, int) and not -(1 << 63) <= number < 1 << 63:
                raise DataReadError(f"{where}: {number} does not fit in a 64-bit integer")
        if self.ragged is None:
            self.ragged = ragged
        elif self.ragged != ragged:
            raise DataReadError(f"{where}: mixes lists and single values under one key")
        if ragged:
            if any(isinstance(v, list | dict) for v in value):
                # A token list is flat; deeper nesting is no sequence Keras pads.
                raise DataReadError(f"{where}: a token list holds nested lists or objects")
            if value:
                self.kinds.add(_kind_of(value))
        else:
            self.kinds.add(_kind_of([value]))
        self.count += 1

    def ref(self, path: str, key: str) -> ArrayRef:
        kinds = self.kinds or {"i"}
        kind = "U" if "U" in kinds else "f" if "f" in kinds else "i" if "i" in kinds else "b"
        dtype = {"U": "str", "f": "float64", "i": "int64", "b": "bool"}[kind]
        return ArrayRef(path, key, (self.count,), dtype, kind, ragged=bool(self.ragged))


def _records(path: str) -> Iterator[tuple[int, Any]]:
    if path.lower().endswith(".jsonl"):
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(safeio.bounded_lines(fh), start=1):
                if line.strip():
                    yield number, json.loads(line)
        return
    size = safeio.regular_file_size(path)
    if size > MAX_JSON_BYTES:
        raise DataReadError(f"a {size}-byte .json file is too large to parse whole; use .jsonl")
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, list):
        for number, item in enumerate(data):
            yield number, item
    elif isinstance(data, dict):
        yield 0, data  # columns: {"x": [[...], ...], "y": [...]}
    else:
        raise DataReadError("a .json file must hold a list of token lists or an object of lists")


def read_json_sequences(path: str, allow_pickle: bool = False) -> list[ArrayRef]:
    fields: dict[str, _Field] = {}
    columns = False
    records = 0
    try:
        for number, record in _records(path):
            records += 1
            where = f"line {number}" if path.lower().endswith(".jsonl") else f"item {number}"
            if isinstance(record, list):
                fields.setdefault("x", _Field()).add(record, where)
            elif isinstance(record, dict) and path.lower().endswith(".json"):
                columns = True
                for key, column in record.items():
                    if not isinstance(column, list):
                        raise DataReadError(f"key {key!r} does not hold a list")
                    field = fields.setdefault(str(key), _Field())
                    for value in column:
                        field.add(value, f"key {key!r}")
            elif isinstance(record, dict):
                for key, value in record.items():
                    fields.setdefault(str(key), _Field()).add(value, where)
            else:
                raise DataReadError(f"{where} is neither a token list nor an object")
    except UnicodeDecodeError:
        raise DataReadError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DataReadError(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise DataReadError("JSON nested too deeply") from None
    if not fields:
        raise DataReadError("no records")
    counts = {key: field.count for key, field in fields.items()}
    # Every record must hold every key: equal counts alone would pass {"x"} then {"y"}.
    most = max(counts.values()) if columns else records
    if min(counts.values()) < most:
        short = sorted(k for k, n in counts.items() if n < most)
        where = "columns" if columns else "records"
        raise DataReadError(
            f"{', '.join(map(repr, short))} missing from {most - min(counts.values())} of "
            f"{most} {where}"
        )
    return [field.ref(path, key) for key, field in sorted(fields.items())]


def iter_sequences(ref: ArrayRef) -> Iterator[tuple[int, list[np.ndarray[Any, Any]]]]:
    """(first row, sequences) chunks of a ragged array, in order."""
    lower = ref.path.lower()
    if lower.endswith((".jsonl", ".json")):
        yield from _json_chunks(ref, ragged=True)
    elif tfrecord.is_tfrecord_name(ref.path):
        yield from tfrecord.iter_sequences(ref)
    elif lower.endswith((".h5", ".hdf5")):
        import h5py

        with h5py.File(ref.path, "r", locking=False) as f:
            dataset = f[ref.key]
            for start in range(0, dataset.shape[0], SEQUENCES_PER_CHUNK):
                rows = dataset[start : start + SEQUENCES_PER_CHUNK]
                yield start, [np.asarray(r).ravel() for r in rows]
    elif lower.endswith(".npz"):
        array = load_object_member(ref)
        for start in range(0, len(array), SEQUENCES_PER_CHUNK):
            chunk = array[start : start + SEQUENCES_PER_CHUNK]
            yield start, [np.asarray(r).ravel() for r in chunk]
    else:
        raise DataReadError(f"{ref.path}: not a ragged source")


def iter_json_values(ref: ArrayRef) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    """(first row, values) chunks of a scalar field (labels) of a .jsonl/.json file."""
    yield from _json_chunks(ref, ragged=False)


def _json_chunks(ref: ArrayRef, ragged: bool) -> Iterator[tuple[int, Any]]:
    chunk: list[Any] = []
    start = 0
    for _, record in _records(ref.path):
        if isinstance(record, list):
            values = [record]
        elif ref.path.lower().endswith(".json"):
            values = list(record.get(ref.key, []))
        else:
            values = [record.get(ref.key)]
        for value in values:
            chunk.append(np.asarray(value, dtype=ref.dtype) if ragged else value)
            if len(chunk) >= SEQUENCES_PER_CHUNK:
                yield start, chunk if ragged else np.asarray(chunk, dtype=ref.dtype)
                start += len(chunk)
                chunk = []
    if chunk:
        yield start, chunk if ragged else np.asarray(chunk, dtype=ref.dtype)


def load_object_member(ref: ArrayRef) -> np.ndarray[Any, Any]:
    """An object member of an .npz: unpickling, which only --allow-pickle lets the caller do."""
    with zipfile.ZipFile(ref.path) as archive, archive.open(f"{ref.key}.npy") as member:
        array: np.ndarray[Any, Any] = np.lib.format.read_array(member, allow_pickle=True)
    return array


def describe_object_member(path: str, key: str) -> ArrayRef:
    """Whether an unpickled object member is a list of sequences, and of which kind."""
    array = load_object_member(ArrayRef(path, key, (), "object", "O"))
    if array.ndim != 1 or not all(
        isinstance(v, list | tuple | np.ndarray) for v in array.tolist()[:1000]
    ):
        return ArrayRef(path, key, tuple(array.shape), "object", "O")
    flat = [x for v in array[:1000] for x in np.asarray(v).ravel().tolist()]
    kind = _kind_of(flat) if flat else "i"
    dtype = {"U": "str", "f": "float64", "i": "int64", "b": "bool"}[kind]
    return ArrayRef(path, key, (len(array),), dtype, kind, ragged=True)
