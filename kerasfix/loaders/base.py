"""What a loader returns: a file and the arrays it holds, described by their headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kerasfix.findings import DataShape


@dataclass(frozen=True)
class ArrayRef:
    """One array in a data file, known by its header: no data has been read."""

    path: str
    key: str | None  # the member or dataset name; None for a .npy file
    shape: DataShape
    dtype: str  # numpy's dtype string: "float32", "int64", "object", "<U5"
    kind: str  # numpy's dtype.kind: "f", "i", "u", "b", "O", "U", "S", ...
    # Variable-length sequences (token lists): shape is (sequences,), dtype/kind are the
    # elements'; read with loaders.ragged.iter_sequences.
    ragged: bool = False
    # What a reader found worth naming (a CSV's first cell that is not a number).
    note: str | None = None
    # A table's label column as the user named it (--y), to read the same columns again.
    label_column: str | None = None
    # Plain, uncompressed data (a .npy, a stored .npz member): (byte offset of the data in the
    # file, numpy's dtype.str, fortran_order). Value passes seek straight there instead of
    # parsing the container and the header again: on a folder of small shards that parsing
    # costs more than the values themselves.
    raw: tuple[int, str, bool] | None = None
    # Ragged sequences: the shape of one step, () for token ids, (features,) for sequences of
    # feature vectors (`[[0.1, 0.2], [0.3, 0.4], ...]`); and the one length every sequence
    # has, where they all share one (None: lengths differ, or not known without reading).
    step_shape: tuple[int, ...] = ()
    row_length: int | None = None
    # A table's column names, where it has a header: the feature columns of `x`, the label
    # column of `y` (KF107 says when the features are off by columns that look like ids).
    columns: tuple[str, ...] = ()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def samples(self) -> int | None:
        return self.shape[0] if self.shape else None

    @property
    def is_numeric(self) -> bool:
        return self.kind in "biufc"


@dataclass
class DataFile:
    path: str
    format: str
    arrays: dict[str, ArrayRef] = field(default_factory=dict)
    error: str | None = None  # why the file could not be read (KF001)
    # An image-class folder's header survey (loaders.images.ImageSurvey), for KF504/KF505.
    survey: Any = None
    # A TFRecord shard's one-pass survey (loaders.tfrecord.ShardSurvey): features, bad records.
    records: Any = None
