"""`.csv`/`.tsv`: numeric feature columns as `x`, the label column as `y`.

The label column is the one named by `--y` (a name, or a 0-based index), else the first
column named like a label (`label_name`: y, label, labels, target, class, ... in any case, with
spaces or dashes for underscores); every other column is a feature.
A first row whose cells are not all numbers, above rows that are, is the header. The file is
read once, streaming, to count rows and find the first cell that is not a number (KF222 names
its row and column); values are read again in chunks when a check needs them.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerasfix import safeio
from kerasfix.errors import DataReadError
from kerasfix.loaders.base import ArrayRef

# Column names a table's label column goes by (compared after `normalized`).
LABEL_NAMES = frozenset(
    {
        "y", "label", "labels", "target", "targets", "class", "classes", "class_label",
        "class_id", "label_id", "category", "categories", "outcome", "y_true", "ground_truth",
    }
)  # fmt: skip
ROWS_PER_CHUNK = 65536
# The csv module's own cap is 128 KiB per field; a number never needs more.
csv.field_size_limit(1 << 20)


@dataclass(frozen=True)
class Layout:
    delimiter: str
    header: tuple[str, ...] | None
    label: int | None
    features: tuple[int, ...]
    width: int


def normalized(name: str) -> str:
    """`Class Label`, `class-label` and `CLASS_LABEL` are one name."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def label_name(name: str) -> bool:
    return normalized(name) in LABEL_NAMES


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _rows(path: str, delimiter: str) -> Iterator[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        try:
            yield from csv.reader(safeio.bounded_lines(fh), delimiter=delimiter)
        except UnicodeDecodeError:
            raise DataReadError("not UTF-8 text") from None
        except csv.Error as exc:
            raise DataReadError(f"not a readable table ({exc})") from None


def layout(path: str, label: str | None = None) -> Layout:
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    rows = _rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        raise DataReadError("an empty table")
    second = next(rows, None)
    header: tuple[str, ...] | None = None
    if not all(_number(c) for c in first if c.strip()) and (
        second is None or sum(_number(c) for c in second) > sum(_number(c) for c in first)
    ):
        header = tuple(c.strip() for c in first)
    width = len(first)
    names = header or tuple(str(i) for i in range(width))
    column: int | None = None
    if label is not None:
        if label in names:
            column = names.index(label)
        elif label.isdigit() and int(label) < width:
            column = int(label)
        else:
            raise DataReadError(f"--y {label!r} names no column (the columns: {', '.join(names)})")
    elif header is not None:
        column = next((i for i, n in enumerate(header) if label_name(n)), None)
    features = tuple(i for i in range(width) if i != column)
    return Layout(delimiter, header, column, features, width)


def read_csv(path: str, allow_pickle: bool = False, label: str | None = None) -> list[ArrayRef]:
    shape = layout(path, label)
    rows = 0
    bad: dict[str, tuple[int, str, str]] = {}  # "x"/"y" -> (row, column, cell)
    names = shape.header or tuple(str(i) for i in range(shape.width))
    try:
        for number, row in enumerate(_rows(path, shape.delimiter)):
            if number == 0 and shape.header is not None:
                continue
            if not row:
                continue
            if len(row) != len(names):
                raise DataReadError(
                    f"row {number + 1} has {len(row)} cells, the first row {len(names)}"
                )
            # An empty cell is a missing number (NaN, KF221), not text.
            for index in shape.features:
                if "x" not in bad and row[index].strip() and not _number(row[index]):
                    bad["x"] = (number + 1, names[index], row[index])
            cell = row[shape.label] if shape.label is not None else ""
            if shape.label is not None and "y" not in bad and cell.strip() and not _number(cell):
                bad["y"] = (number + 1, names[shape.label], cell)
            rows += 1
    except UnicodeDecodeError:
        raise DataReadError("not UTF-8 text") from None
    except csv.Error as exc:
        raise DataReadError(f"not a readable table ({exc})") from None
    # Column names travel only where the table has a header (else they are positions).
    features = tuple(names[i] for i in shape.features) if shape.header else ()
    refs = [_ref(path, "x", (rows, len(shape.features)), bad.get("x"), label, features)]
    if shape.label is not None:
        column = (names[shape.label],) if shape.header else ()
        refs.append(_ref(path, "y", (rows,), bad.get("y"), label, column))
    return refs


def _ref(
    path: str,
    key: str,
    shape: tuple[int, ...],
    bad: tuple[int, str, str] | None,
    label: str | None,
    columns: tuple[str, ...],
) -> ArrayRef:
    if bad is None:
        return ArrayRef(path, key, shape, "float64", "f", label_column=label, columns=columns)
    row, column, cell = bad
    note = f"row {row}, column {column!r}: {cell!r}"
    return ArrayRef(path, key, shape, "str", "U", note=note, label_column=label, columns=columns)


def iter_csv_chunks(ref: ArrayRef) -> Iterator[tuple[int, Any]]:
    shape = layout(ref.path, ref.label_column)
    columns = list(shape.features) if ref.key == "x" or shape.label is None else [shape.label]
    chunk: list[list[float]] = []
    start = 0
    for number, row in enumerate(_rows(ref.path, shape.delimiter)):
        if (number == 0 and shape.header is not None) or not row:
            continue
        chunk.append([float(row[i]) if row[i].strip() else math.nan for i in columns])
        if len(chunk) >= ROWS_PER_CHUNK:
            yield start, _shaped(chunk, ref)
            start += len(chunk)
            chunk = []
    if chunk:
        yield start, _shaped(chunk, ref)


def _shaped(chunk: list[list[float]], ref: ArrayRef) -> Any:
    array = np.asarray(chunk, dtype=np.float64)
    return array[:, 0] if ref.key == "y" else array
