"""One streaming pass per array gathering what every value rule needs.

The plan (what to gather) is derived from the contract before reading: thresholds to count
(an Embedding's `input_dim`, an output's `units`), whether ranges, integrality or one-hot rows
matter. The pass reads the array once in chunks; rules then read only these statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.chunks import iter_chunks

Index = tuple[int, ...]


@dataclass(frozen=True)
class ScanPlan:
    finite: bool = True  # count NaN/Inf and the rows holding them
    value_range: bool = False  # min, max, negatives, fractional values
    thresholds: tuple[int, ...] = ()  # count values >= each, with the first position
    onehot: bool = False  # whether every row is one-hot (0/1 values summing to 1)
    # Ragged sequences: the length they will be padded or truncated to, and the pad value.
    maxlen: int | None = None
    pad_value: float | None = None
    # A label value the loss skips: left out of every range statistic.
    ignore_value: int | None = None


@dataclass
class Count:
    """How many values broke a rule, and where the first one is."""

    count: int = 0
    first: Index | None = None
    first_value: float | None = None

    def add(self, mask: np.ndarray[Any, Any], chunk: np.ndarray[Any, Any], row0: int) -> None:
        n = int(np.count_nonzero(mask))
        if n and self.first is None:
            where = np.argwhere(mask)[0]
            self.first = (int(where[0]) + row0, *(int(i) for i in where[1:]))
            self.first_value = chunk[tuple(where)].item()
        self.count += n

    def add_flat(
        self,
        mask: np.ndarray[Any, Any],
        flat: np.ndarray[Any, Any],
        starts: np.ndarray[Any, Any],
        row0: int | np.ndarray[Any, Any],
        width: int = 0,
    ) -> None:
        """The same over concatenated sequences: positions are [sequence, step], or
        [sequence, step, feature] for sequences of feature vectors `width` wide (`starts`
        count values, not steps). `row0`: the first sequence's row, or (an array) each
        sequence's row (a TFRecord shard's record indices)."""
        n = int(np.count_nonzero(mask))
        if n and self.first is None:
            i = int(np.argmax(mask))
            seq = int(np.searchsorted(starts, i, side="right")) - 1
            offset = i - int(starts[seq])
            row = int(row0[seq]) if isinstance(row0, np.ndarray) else row0 + seq
            self.first = (row, offset // width, offset % width) if width else (row, offset)
            self.first_value = flat[i].item()
        self.count += n


@dataclass
class ArrayStats:
    elements: int = 0
    rows: int = 0
    min: float | None = None
    max: float | None = None
    nan: int = 0
    inf: int = 0
    nonfinite_rows: int = 0
    first_nonfinite_row: int | None = None
    negative: Count = field(default_factory=Count)
    fractional: Count = field(default_factory=Count)
    at_or_above: dict[int, Count] = field(default_factory=dict)
    onehot_rows: int = 0  # vectors (along the last axis) of 0/1 values summing to exactly 1
    vectors: int = 0  # vectors along the last axis, for one-hot
    binary: bool = True  # every value is 0 or 1
    # Ragged sequences only.
    min_length: int | None = None
    max_length: int | None = None
    tokens: int = 0
    longer: int = 0  # sequences longer than the plan's maxlen
    tokens_over: int = 0  # tokens beyond maxlen, lost to truncation
    pad_hits: Count = field(default_factory=Count)  # real tokens equal to the pad value

    @property
    def integral(self) -> bool:
        return self.fractional.count == 0 and self.nan == 0 and self.inf == 0

    @property
    def all_onehot(self) -> bool:
        return self.vectors > 0 and self.onehot_rows == self.vectors


def scan_ragged(ref: ArrayRef, plan: ScanPlan) -> ArrayStats:
    """One pass over variable-length sequences: lengths, truncation losses, pad-value hits,
    and the same value statistics as `scan`, positions given as [sequence, step]."""
    from kerasfix.loaders.ragged import iter_sequences

    stats = ArrayStats(at_or_above={t: Count() for t in plan.thresholds})
    # Sequences of feature vectors: lengths count steps, positions name the feature too.
    width = int(np.prod(ref.step_shape)) if ref.step_shape else 0
    for row0, sequences in iter_sequences(ref):
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        stats.rows += len(sequences)
        if not len(lengths):
            continue
        lo_len, hi_len = int(lengths.min()), int(lengths.max())
        stats.min_length = lo_len if stats.min_length is None else min(stats.min_length, lo_len)
        stats.max_length = hi_len if stats.max_length is None else max(stats.max_length, hi_len)
        if plan.maxlen is not None:
            over = lengths - plan.maxlen
            stats.longer += int((over > 0).sum())
            stats.tokens_over += int(over[over > 0].sum())
        flat = np.concatenate([np.ravel(s) for s in sequences]) if sequences else np.zeros(0)
        stats.tokens += int(lengths.sum())
        stats.elements += flat.size
        if flat.size == 0:
            continue
        starts = np.concatenate(([0], np.cumsum(lengths * max(width, 1))[:-1]))
        if flat.dtype.kind == "f":
            finite = np.isfinite(flat)
            if not finite.all():
                stats.nan += int(np.isnan(flat).sum())
                stats.inf += int((~finite).sum()) - int(np.isnan(flat).sum())
                bad_rows = np.unique(np.searchsorted(starts, np.flatnonzero(~finite), "right") - 1)
                stats.nonfinite_rows += len(bad_rows)
                if stats.first_nonfinite_row is None:
                    stats.first_nonfinite_row = row0 + int(bad_rows[0])
                flat = np.where(finite, flat, 0)
            fractional = flat != np.floor(flat)
            if fractional.any():
                stats.fractional.add_flat(fractional, flat, starts, row0, width)
        lo, hi = flat.min().item(), flat.max().item()
        stats.min = lo if stats.min is None else min(stats.min, lo)
        stats.max = hi if stats.max is None else max(stats.max, hi)
        if lo < 0:
            stats.negative.add_flat(flat < 0, flat, starts, row0, width)
        for threshold, count in stats.at_or_above.items():
            if hi >= threshold:
                count.add_flat(flat >= threshold, flat, starts, row0, width)
        if plan.pad_value is not None:
            stats.pad_hits.add_flat(flat == plan.pad_value, flat, starts, row0, width)
    return stats


def add_flat(
    stats: ArrayStats,
    plan: ScanPlan,
    flat: np.ndarray[Any, Any],
    lengths: np.ndarray[Any, Any],
    rows: np.ndarray[Any, Any],
) -> None:
    """Add sequences, given concatenated (`flat`, with each one's length and row), to
    `stats`: lengths, truncation losses, pad-value hits, non-finite rows, value statistics
    and, where every sequence has one length, one-hot rows."""
    for threshold in plan.thresholds:
        stats.at_or_above.setdefault(threshold, Count())
    stats.rows += len(lengths)
    if not len(lengths):
        return
    lo_len, hi_len = int(lengths.min()), int(lengths.max())
    stats.min_length = lo_len if stats.min_length is None else min(stats.min_length, lo_len)
    stats.max_length = hi_len if stats.max_length is None else max(stats.max_length, hi_len)
    if plan.maxlen is not None:
        over = lengths - plan.maxlen
        stats.longer += int((over > 0).sum())
        stats.tokens_over += int(over[over > 0].sum())
    stats.tokens += flat.size
    stats.elements += flat.size
    if flat.size == 0:
        return
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    if flat.dtype.kind == "f":
        finite = np.isfinite(flat)
        if not finite.all():
            nan = np.isnan(flat)
            stats.nan += int(nan.sum())
            stats.inf += int((~finite).sum()) - int(nan.sum())
            bad_rows = np.unique(np.repeat(rows, lengths)[~finite])
            stats.nonfinite_rows += len(bad_rows)
            if stats.first_nonfinite_row is None:
                stats.first_nonfinite_row = int(bad_rows[0])
            flat = np.where(finite, flat, 0)
        fractional = flat != np.floor(flat)
        if fractional.any():
            stats.fractional.add_flat(fractional, flat, starts, rows)
    values = flat
    if plan.ignore_value is not None:
        values = np.where(values == plan.ignore_value, 0, values)
    lo, hi = values.min().item(), values.max().item()
    stats.min = lo if stats.min is None else min(stats.min, lo)
    stats.max = hi if stats.max is None else max(stats.max, hi)
    if lo < 0:
        stats.negative.add_flat(values < 0, values, starts, rows)
    for threshold, count in stats.at_or_above.items():
        if hi >= threshold:
            count.add_flat(values >= threshold, values, starts, rows)
    if plan.pad_value is not None:
        stats.pad_hits.add_flat(flat == plan.pad_value, flat, starts, rows)
    if plan.onehot and lo_len == hi_len and lo_len > 1:
        vectors = values.reshape(len(lengths), lo_len)
        binary = (vectors == 0) | (vectors == 1)
        stats.binary = stats.binary and bool(binary.all())
        stats.vectors += vectors.shape[0]
        stats.onehot_rows += int((binary.all(axis=1) & (vectors.sum(axis=1) == 1)).sum())


def scan(ref: ArrayRef, plan: ScanPlan) -> ArrayStats:
    """Read the array once, chunk by chunk, gathering what `plan` asks for."""
    if ref.ragged:
        return scan_ragged(ref, plan)
    stats = ArrayStats(at_or_above={t: Count() for t in plan.thresholds})
    floating = ref.kind in "fc"
    for row0, raw in iter_chunks(ref):
        chunk = raw.real if ref.kind == "c" else raw.view(np.uint8) if ref.kind == "b" else raw
        if chunk.ndim == 0:
            chunk = chunk.reshape(1)
        stats.elements += chunk.size
        stats.rows += chunk.shape[0] if chunk.ndim else 1
        if chunk.size == 0:
            continue
        finite: np.ndarray[Any, Any] | None = None
        if floating and (plan.finite or plan.value_range):
            finite = np.isfinite(chunk)
            if not finite.all():
                nan = np.isnan(chunk)
                stats.nan += int(nan.sum())
                stats.inf += int(chunk.size - finite.sum()) - int(nan.sum())
                bad_rows = ~finite.reshape(chunk.shape[0], -1).all(axis=1)
                stats.nonfinite_rows += int(bad_rows.sum())
                if stats.first_nonfinite_row is None:
                    stats.first_nonfinite_row = row0 + int(np.argmax(bad_rows))
            else:
                finite = None  # all finite: no masking needed below
        if not (plan.value_range or plan.thresholds or plan.onehot):
            continue
        values = chunk if finite is None else np.where(finite, chunk, 0)
        if plan.ignore_value is not None:
            values = np.where(values == plan.ignore_value, 0, values)
        # .item(): exact Python ints for integer data (float(2**63 - 1) rounds past int64).
        lo, hi = values.min().item(), values.max().item()
        stats.min = lo if stats.min is None else min(stats.min, lo)
        stats.max = hi if stats.max is None else max(stats.max, hi)
        if lo < 0:
            stats.negative.add(values < 0, chunk, row0)
        if floating:
            fractional = values != np.floor(values)
            if fractional.any():
                stats.fractional.add(fractional, chunk, row0)
        for threshold, count in stats.at_or_above.items():
            if hi >= threshold:
                count.add(values >= threshold, chunk, row0)
        if plan.onehot and values.ndim >= 2:
            vectors = values.reshape(-1, values.shape[-1])
            binary = (vectors == 0) | (vectors == 1)
            stats.binary = stats.binary and bool(binary.all())
            stats.vectors += vectors.shape[0]
            stats.onehot_rows += int((binary.all(axis=1) & (vectors.sum(axis=1) == 1)).sum())
    return stats
