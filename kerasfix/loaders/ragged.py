"""Variable-length sequences: `.jsonl`/`.json` token lists and sequences of feature vectors,
HDF5 variable-length datasets, and `.npz`/`.npy` object arrays (only with --allow-pickle,
which is what reading them takes).

A `.jsonl` line is a token list (`[3, 17, 5]`, key `x`) or an object whose list fields are
sequences and whose number fields are labels (`{"tokens": [3, 17], "label": 1}`). A sequence
may be of feature vectors, one list per step (`{"x": [[0.1, 0.2], [0.3, 0.4]], "y": 1}`),
and a label may be a list too (one-hot or multi-label rows: `"y": [0, 1, 0]`). A `.json`
file is a list of token lists, or an object of such lists and label lists.
"""

from __future__ import annotations

import dataclasses
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


def _check_int64(values: list[Any], where: str) -> None:
    for number in values:
        # JSON integers are unbounded; numpy's are 64-bit (found by `make fuzz`).
        if isinstance(number, int) and not -(1 << 63) <= number < 1 << 63:
            raise DataReadError(f"{where}: {number} does not fit in a 64-bit integer")


class _Field:
    """What one key holds across the records: sequences or scalars, and of what kind. A
    sequence's steps are numbers (token ids) or equal-length lists of numbers (feature
    vectors); `step_shape` is () or (features,), the same for every step of every record."""

    def __init__(self) -> None:
        self.count = 0
        self.ragged: bool | None = None
        self.kinds: set[str] = set()
        self.step_shape: tuple[int, ...] | None = None
        self.step_where = ""
        self.min_length: int | None = None
        self.max_length: int | None = None

    def add(self, value: Any, where: str) -> None:
        ragged = isinstance(value, list)
        if self.ragged is None:
            self.ragged = ragged
        elif self.ragged != ragged:
            raise DataReadError(f"{where}: mixes lists and single values under one key")
        if not ragged:
            _check_int64([value], where)
            self.kinds.add(_kind_of([value]))
            self.count += 1
            return
        nested = [isinstance(v, list) for v in value]
        if any(isinstance(v, dict) for v in value) or (any(nested) and not all(nested)):
            raise DataReadError(f"{where}: a sequence mixes numbers with lists or objects")
        if value and all(nested):
            # Steps of feature vectors: one flat list of numbers per step, all of one length.
            if any(isinstance(x, list | dict) for step in value for x in step):
                raise DataReadError(
                    f"{where}: a sequence's steps hold nested lists or objects; kerasfix reads "
                    "token lists and lists of feature vectors"
                )
            widths = {len(step) for step in value}
            if len(widths) > 1:
                raise DataReadError(
                    f"{where}: the steps of one sequence hold different numbers of features "
                    f"({', '.join(map(str, sorted(widths)))})"
                )
            step: tuple[int, ...] = (widths.pop(),)
            flat = [x for row in value for x in row]
        else:
            step = ()
            flat = value
        if value:
            if self.step_shape is None:
                self.step_shape, self.step_where = step, where
            elif self.step_shape != step:
                raise DataReadError(
                    f"{where}: steps of {_describe_step(step)}, where {self.step_where} has "
                    f"steps of {_describe_step(self.step_shape)}"
                )
        _check_int64(flat, where)
        if flat:
            self.kinds.add(_kind_of(flat))
        length = len(value)
        self.min_length = length if self.min_length is None else min(self.min_length, length)
        self.max_length = length if self.max_length is None else max(self.max_length, length)
        self.count += 1

    def ref(self, path: str, key: str) -> ArrayRef:
        kinds = self.kinds or {"i"}
        kind = "U" if "U" in kinds else "f" if "f" in kinds else "i" if "i" in kinds else "b"
        dtype = {"U": "str", "f": "float64", "i": "int64", "b": "bool"}[kind]
        uniform = self.min_length is not None and self.min_length == self.max_length
        return ArrayRef(
            path,
            key,
            (self.count,),
            dtype,
            kind,
            ragged=bool(self.ragged),
            step_shape=self.step_shape or (),
            row_length=self.min_length if self.ragged and uniform else None,
        )


def _describe_step(step: tuple[int, ...]) -> str:
    return f"{step[0]} features" if step else "single numbers (token ids)"


def as_rows(ref: ArrayRef) -> ArrayRef:
    """Lists that all share one length, read as one array (N, length, *step): how labels in
    a `.jsonl`/`.json` file (one-hot or multi-label rows, per-step labels) reach Keras, which
    gets `np.asarray` of them. Anything else is returned as it is."""
    if not ref.ragged or ref.row_length is None:
        return ref
    if not ref.path.lower().endswith((".jsonl", ".json")):
        return ref
    return dataclasses.replace(
        ref,
        ragged=False,
        shape=(ref.shape[0], ref.row_length, *ref.step_shape),
        step_shape=(),
        row_length=None,
    )


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
    elif lower.endswith((".npz", ".npy")):
        array = load_object_member(ref)
        for start in range(0, len(array), SEQUENCES_PER_CHUNK):
            chunk = array[start : start + SEQUENCES_PER_CHUNK]
            yield start, [_as_sequence(r, ref) for r in chunk]
    else:
        raise DataReadError(f"{ref.path}: not a ragged source")


def _as_sequence(row: Any, ref: ArrayRef) -> np.ndarray[Any, Any]:
    """One sequence as (steps,) token ids or (steps, features) feature vectors."""
    array = np.asarray(row)
    return array.reshape((-1, *ref.step_shape)) if ref.step_shape else array.ravel()


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
            if ragged:
                sequence = np.asarray(value, dtype=ref.dtype)
                if ref.step_shape:  # an empty sequence of feature vectors: (0, features)
                    sequence = sequence.reshape((-1, *ref.step_shape))
                chunk.append(sequence)
            else:
                chunk.append(value)
            if len(chunk) >= SEQUENCES_PER_CHUNK:
                yield start, chunk if ragged else np.asarray(chunk, dtype=ref.dtype)
                start += len(chunk)
                chunk = []
    if chunk:
        yield start, chunk if ragged else np.asarray(chunk, dtype=ref.dtype)


def load_object_member(ref: ArrayRef) -> np.ndarray[Any, Any]:
    """An object array (an .npz member, or a whole .npy): unpickling, which only
    --allow-pickle lets the caller do."""
    array: np.ndarray[Any, Any]
    if ref.key is None:
        with open(ref.path, "rb") as fh:
            array = np.lib.format.read_array(fh, allow_pickle=True)
        return array
    with zipfile.ZipFile(ref.path) as archive, archive.open(f"{ref.key}.npy") as member:
        array = np.lib.format.read_array(member, allow_pickle=True)
    return array


def describe_object_member(path: str, key: str | None) -> ArrayRef:
    """Whether an unpickled object array is a list of sequences (token ids, or 2-D
    `(steps, features)` sequences of feature vectors), and of which kind."""
    array = load_object_member(ArrayRef(path, key, (), "object", "O"))
    if array.ndim != 1 or not all(
        isinstance(v, list | tuple | np.ndarray) for v in array.tolist()[:1000]
    ):
        return ArrayRef(path, key, tuple(array.shape), "object", "O")
    where = f"member {key!r}" if key is not None else "the array"
    rows = [np.asarray(v) for v in array]
    ranks = {r.ndim for r in rows if r.size}
    if ranks - {1, 2} or len(ranks) > 1:
        raise DataReadError(
            f"{where} mixes sequences of ranks {', '.join(map(str, sorted(ranks)))}; kerasfix "
            "reads token lists (1-D) and sequences of feature vectors (2-D: steps, features)"
        )
    step: tuple[int, ...] = ()
    if ranks == {2}:
        widths = sorted({r.shape[1] for r in rows if r.size})
        if len(widths) > 1:
            raise DataReadError(
                f"{where}: its sequences' steps hold different numbers of features "
                f"({', '.join(map(str, widths))})"
            )
        step = (widths[0],)
    flat = [x for r in rows[:1000] for x in r.ravel().tolist()]
    kind = _kind_of(flat) if flat else "i"
    dtype = {"U": "str", "f": "float64", "i": "int64", "b": "bool"}[kind]
    lengths = {len(r) if r.ndim else 1 for r in rows}
    return ArrayRef(
        path,
        key,
        (len(array),),
        dtype,
        kind,
        ragged=True,
        step_shape=step,
        row_length=lengths.pop() if len(lengths) == 1 else None,
    )
