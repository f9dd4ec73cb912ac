"""KF109, KF2xx: values: token ids against Embeddings, labels against outputs and losses.

Every rule here reads the ArrayStats of one streaming pass (kerasfix.stats); the scan plan
functions say what that pass must gather for an input or an output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerasfix.checks.base import Check, Rule
from kerasfix.findings import Applicability, Finding, Severity, Shape
from kerasfix.loaders.base import ArrayRef
from kerasfix.model.contract import InputSpec, ModelContract, OutputSpec, format_shape
from kerasfix.options import DiagnoseOptions
from kerasfix.stats import ArrayStats, Count, ScanPlan

SPARSE_LOSSES = frozenset({"sparse_categorical_crossentropy"})
CATEGORICAL_LOSSES = frozenset({"categorical_crossentropy", "categorical_focal_crossentropy"})
BINARY_LOSSES = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
NON_NUMERIC_KINDS = "USOV"


@dataclass(frozen=True)
class ValueContext:
    """One array's statistics against the input it feeds or the output it labels."""

    contract: ModelContract
    options: DiagnoseOptions
    array: ArrayRef
    stats: ArrayStats | None  # None for arrays that were not scanned (non-numeric)
    input: InputSpec | None = None
    output: OutputSpec | None = None


def _integer_dtype(name: str) -> bool:
    try:
        return np.issubdtype(np.dtype(name), np.integer)
    except TypeError:
        return False


def plan_for_input(inp: InputSpec, ref: ArrayRef, options: DiagnoseOptions) -> ScanPlan | None:
    if ref.kind not in "biufc" or ref.kind == "b":
        return None
    ids = bool(inp.embeddings) or _integer_dtype(inp.dtype)
    # A sequence's length axis: token ids (steps,), feature vectors (steps, features).
    steps = len(inp.sample_shape) == 1 + len(ref.step_shape)
    length = inp.sample_shape[0] if steps else None
    return ScanPlan(
        finite=True,
        value_range=ids or ref.ragged,
        thresholds=tuple(sorted({e.input_dim for e in inp.embeddings})),
        maxlen=length if ref.ragged else None,
        # A pad value is a token only among token ids: 0.0 is an ordinary feature value.
        pad_value=options.pad_value if ref.ragged and not ref.step_shape else None,
    )


def plan_for_output(out: OutputSpec, ref: ArrayRef) -> ScanPlan | None:
    if ref.kind not in "biufc":
        return None
    return ScanPlan(
        finite=True,
        value_range=True,
        thresholds=(out.units,) if out.units else (),
        onehot=ref.ndim >= 2,
        ignore_value=out.loss.ignore_class if out.loss is not None else None,
    )


def _where(index: tuple[int, ...] | None) -> str:
    return "[" + ",".join(str(i) for i in index or ()) + "]"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class NonFinite(Rule):
    """
    ## What it does
    Reports NaN or Inf values in inputs or labels, with their counts and the first row.

    ## Why it matters
    One NaN in a batch makes the loss NaN and the weights NaN from then on; training goes on
    without an error and the model is ruined.

    ## Example
    A feature column divided by a zero standard deviation: `x[:, 3]` is all NaN.

    ## Fix safety
    Unsafe: dropping the samples that hold them loses data; imputing invents it.
    """

    code = "KF221"
    name = "non-finite"
    severity = Severity.ERROR
    repair = "unsafe: drop those samples"
    applicability = Applicability.UNSAFE
    trigger = "NaN or Inf in inputs or labels"


class NonNumeric(Rule):
    """
    ## What it does
    Reports string, bytes or object data where the model takes numbers (an input, or labels
    for a numeric output).

    ## Why it matters
    Keras fails with `Invalid dtype: object` or `Failed to convert a NumPy array to a
    Tensor`; class names as labels need an encoding first.

    ## Example
    `y` holds `['cat', 'dog', ...]` for a `Dense(2, activation='softmax')` output.

    ## Fix safety
    No automatic fix: encode the strings (a StringLookup layer, or a label encoder).
    """

    code = "KF222"
    name = "non-numeric"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "string or object data for a numeric input"


class DtypeMismatch(Rule):
    """
    ## What it does
    Reports numeric data that the input's declared integer dtype cannot hold without loss:
    floats with a fractional part, or integers beyond the dtype's range.

    ## Why it matters
    Keras casts the data to the input's dtype silently: 2.7 becomes 2, and 3,000,000,000
    wraps around in int32.

    ## Example
    `Input(shape=(8,), dtype='int32')` fed ratings like `3.5`.

    ## Fix safety
    Safe where the cast is lossless (integral floats); otherwise no automatic fix.
    """

    code = "KF109"
    name = "dtype-mismatch"
    severity = Severity.ERROR
    repair = "safe where lossless: cast"
    applicability = Applicability.NONE
    trigger = "ids as floats with fractions, or ints that overflow an integer Input"


class IndexOutOfRange(Rule):
    """
    ## What it does
    Reports token ids at or above the `input_dim` of the Embedding that reads them, with the
    largest id, how many are out of range and the first position, as TensorFlow words it:
    `indices[3,1] = 12 is not in [0, 10)`.
    TFRecord int64 token lists are checked the same way, positions given as
    `[record, index]`.

    ## Why it matters
    On the CPU, training stops with that message; on a GPU there is no error at all: the
    lookup returns zeros and the model trains on garbage.

    ## Example
    The seed's `Embedding(10, 32)` fed a sequence holding the id 10 (a vocabulary of 10 ids
    plus padding needs `input_dim=11`).

    ## Fix safety
    Unsafe: grow `input_dim` to the largest id + 1 (new rows are untrained), or map the ids to
    an out-of-vocabulary id (`kerasfix repair --oov-id N --unsafe-fixes`, in `.npy`, `.npz`,
    `.h5` and `.jsonl`/`.json` files), which changes the data.
    """

    code = "KF201"
    name = "index-out-of-range"
    severity = Severity.ERROR
    repair = "unsafe: grow input_dim, or map to an OOV id"
    applicability = Applicability.UNSAFE
    trigger = "a token id >= input_dim of the Embedding it feeds"


class NegativeIndex(Rule):
    """
    ## What it does
    Reports negative token ids fed to an Embedding.

    ## Why it matters
    Keras 3 wraps a negative id to the end of the table: `-1` padding silently reads the
    last embedding row, and every padded step looks like a real token.

    ## Example
    Sequences padded with `-1` instead of `0`.

    ## Fix safety
    Unsafe: map negative ids to an out-of-vocabulary id (`kerasfix repair --oov-id N
    --unsafe-fixes`).
    """

    code = "KF202"
    name = "negative-index"
    severity = Severity.ERROR
    repair = "unsafe: map to the OOV id"
    applicability = Applicability.UNSAFE
    trigger = "a negative token id"


class NonIntegerIndex(Rule):
    """
    ## What it does
    Reports token ids stored as floats with a fractional part.

    ## Why it matters
    The Embedding casts ids to integers, so `3.7` silently reads row 3: the array holds
    something other than token ids (features, normalised values).

    ## Example
    Token ids divided by the vocabulary size "to normalise" them.

    ## Fix safety
    No automatic fix: rebuild the token ids.
    """

    code = "KF203"
    name = "non-integer-index"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "float ids with a fractional part"


class LabelOutOfRange(Rule):
    """
    ## What it does
    Reports sparse (integer) labels outside `[0, units)` of the output they train.
    TFRecord label features are checked the same way.

    ## Why it matters
    On the CPU, training stops with `Received a label value of 12 which is outside the valid
    range of [0, 10)`; on a GPU the loss is NaN and training goes on.

    ## Example
    11 classes in the labels, `Dense(10, activation='softmax')` in the model.

    ## Fix safety
    No automatic fix: the output needs more units, or the labels another encoding.
    """

    code = "KF211"
    name = "label-out-of-range"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "sparse labels outside [0, units) of the output"


class OneBasedLabels(Rule):
    """
    ## What it does
    Reports sparse labels that are exactly `1..units`, with no 0: classes numbered from one.

    ## Why it matters
    The label `units` is out of range (an error on the CPU, NaN on a GPU), and class 0 of
    the output is never trained.

    ## Example
    Ratings 1–5 as labels for `Dense(5, activation='softmax')`.

    ## Fix safety
    Safe: shift every label by -1.
    """

    code = "KF212"
    name = "one-based-labels"
    severity = Severity.ERROR
    repair = "safe: shift by -1"
    applicability = Applicability.SAFE
    trigger = "labels are exactly 1..units, no 0"


class OnehotWithSparseLoss(Rule):
    """
    ## What it does
    Reports one-hot labels `(N, K)` for an output trained with a sparse categorical loss.

    ## Why it matters
    Keras 3 fails with `Argument output must have rank (ndim) target.ndim - 1`; tf.keras
    with `Can not squeeze dim[1], expected a dimension of 1, got 10`.

    ## Example
    `keras.utils.to_categorical(y)` labels with `loss='sparse_categorical_crossentropy'`.

    ## Fix safety
    Safe: `np.argmax(y, axis=-1)` loses nothing from one-hot rows; or switch the model's loss
    to `categorical_crossentropy`.
    """

    code = "KF213"
    name = "onehot-with-sparse-loss"
    severity = Severity.ERROR
    repair = "safe: argmax, or patch the loss"
    applicability = Applicability.SAFE
    trigger = "one-hot (N,K) labels with a sparse categorical loss"


class SparseWithCategoricalLoss(Rule):
    """
    ## What it does
    Reports integer class labels `(N,)` or `(N, 1)` for an output trained with a
    (non-sparse) categorical loss, which expects one-hot rows.

    ## Why it matters
    Keras 3 fails with `Arguments target and output must have the same rank`; tf.keras with
    `Shapes (None, 1) and (None, 10) are incompatible`.

    ## Example
    `y = [3, 0, 7, ...]` with `loss='categorical_crossentropy'`.

    ## Fix safety
    Safe: `keras.utils.to_categorical(y, units)`; or switch the loss to
    `sparse_categorical_crossentropy`.
    """

    code = "KF214"
    name = "sparse-with-categorical-loss"
    severity = Severity.ERROR
    repair = "safe: one-hot, or patch the loss"
    applicability = Applicability.SAFE
    trigger = "integer labels with a (non-sparse) categorical loss"


class LabelShapeMismatch(Rule):
    """
    ## What it does
    Reports labels whose shape cannot match the output's shape under its loss, and names
    why: one label per sample for a head that predicts per time step (an `LSTM` with
    `return_sequences=True` before the `Dense`) or per position (a `Dense` after a `Conv2D`
    with no pooling or `Flatten`), labels of another rank, multi-label rows for a sparse loss,
    label lists of different lengths (label sets in a `.jsonl`), and a categorical loss told
    to reduce over another axis (`CategoricalCrossentropy(axis=1)`) than the head's classes.
    TFRecord label lists whose length varies across records are KF215.

    ## Why it matters
    Some mismatches fail (`Shapes (None, 3) and (None, 1) are incompatible`, `Argument output
    must have rank (ndim) target.ndim - 1`); others are silent: mean squared error broadcasts
    one target per sample over a per-step output, or `(N, 3)` targets against an `(N, 1)`
    output, and a loss reducing over the steps normalises the wrong axis: training runs on a
    meaningless loss.

    ## Example
    `LSTM(32, return_sequences=True)` then `Dense(3, activation='softmax')`, trained with one
    class id per sequence.

    ## Fix safety
    Safe where a reshape is lossless (`(N, 1, 1)` for `(N, 1)`). Unsafe: repeating each
    sample's label at every step of a per-step head (it invents per-step labels); the usual
    fix is the model's (`return_sequences=False`, pooling or `Flatten` before the head), which
    kerasfix names but does not apply. Otherwise no automatic fix.
    """

    code = "KF215"
    name = "label-shape-mismatch"
    severity = Severity.ERROR
    repair = "safe where lossless: reshape"
    applicability = Applicability.NONE
    trigger = "label shape cannot match the output shape"


class BinaryLabelRange(Rule):
    """
    ## What it does
    Reports labels outside `[0, 1]` for a binary cross-entropy loss.

    ## Why it matters
    Binary cross-entropy with a label of 2 or -1 has no minimum in `[0, 1]`: the loss goes
    negative and the model learns nonsense, without any error.

    ## Example
    Labels `{1, 2}` for a one-unit sigmoid output.

    ## Fix safety
    No automatic fix: re-encode the labels as 0/1.
    """

    code = "KF216"
    name = "binary-label-range"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "labels outside [0, 1] for binary cross-entropy"


def _nonfinite(ctx: ValueContext, role: str) -> Iterator[Finding]:
    stats = ctx.stats
    if stats is None or not (stats.nan or stats.inf):
        return
    yield NonFinite.finding(
        what=f"{role} holds {stats.nan} NaN and {stats.inf} Inf values in "
        f"{stats.nonfinite_rows} of {stats.rows} samples; the first is row "
        f"{stats.first_nonfinite_row}",
        why="one non-finite value makes the loss NaN and ruins the weights without an error",
        fix=f"drop {_plural(stats.nonfinite_rows, 'sample')} [unsafe], or fix the values at "
        "their source",
        expected=0,
        received={"nan": stats.nan, "inf": stats.inf, "rows": stats.nonfinite_rows},
        first_row=stats.first_nonfinite_row,
    )


def _non_numeric(ctx: ValueContext, role: str) -> Iterator[Finding]:
    ref = ctx.array
    if ref.kind not in NON_NUMERIC_KINDS:
        return
    where = f" (first at {ref.note})" if ref.note else ""
    yield NonNumeric.finding(
        what=f"{role} has dtype {ref.dtype}{where}; the model takes numbers",
        why="Keras cannot turn strings or Python objects into a tensor for this layer",
        fix="encode the values as numbers first (StringLookup, or a label encoder) "
        "[no automatic fix]",
        expected="numeric",
        received=ref.dtype,
    )


def check_input_values(ctx: ValueContext) -> Iterator[Finding]:
    inp, stats = ctx.input, ctx.stats
    if inp is None:
        return
    role = f"input '{inp.name}'"
    yield from _non_numeric(ctx, role)
    yield from _nonfinite(ctx, role)
    if stats is None or stats.min is None or stats.max is None:
        return
    for emb in inp.embeddings:
        above = stats.at_or_above.get(emb.input_dim, Count())
        if above.count:
            yield IndexOutOfRange.finding(
                what=f"Embedding '{emb.layer}' takes ids in [0, {emb.input_dim}); "
                f"{_plural(above.count, 'id')} outside, the largest {_number(stats.max)}: "
                f"indices{_where(above.first)} = {_number(above.first_value)} is not in "
                f"[0, {emb.input_dim}) (row {(above.first or (0,))[0]} of the file; TensorFlow "
                "counts rows within the batch)",
                why="the CPU stops with this message; a GPU returns zeros and trains on garbage",
                fix=f"grow the Embedding's input_dim to {int(stats.max) + 1} [unsafe], or map "
                "those ids to an out-of-vocabulary id: kerasfix repair --oov-id N "
                "--unsafe-fixes [unsafe]",
                expected=[0, emb.input_dim],
                received=_number(stats.max),
                count=above.count,
                first=list(above.first or ()),
                layer=emb.layer,
                max_id=int(stats.max),
            )
        if stats.negative.count:
            neg = stats.negative
            yield NegativeIndex.finding(
                what=f"Embedding '{emb.layer}' takes ids in [0, {emb.input_dim}); "
                f"{_plural(neg.count, 'id')} negative, the smallest {_number(stats.min)}: "
                f"indices{_where(neg.first)} = {_number(neg.first_value)}",
                why="Keras 3 wraps negative ids to the end of the table: they silently read "
                "the last embedding row",
                fix="map negative ids to an out-of-vocabulary id (kerasfix repair --oov-id N "
                "--unsafe-fixes), or pad with 0 [unsafe]",
                expected=[0, emb.input_dim],
                received=_number(stats.min),
                count=neg.count,
                first=list(neg.first or ()),
                layer=emb.layer,
            )
        if stats.fractional.count:
            frac = stats.fractional
            yield NonIntegerIndex.finding(
                what=f"Embedding '{emb.layer}' takes integer ids; "
                f"{_plural(frac.count, 'value')} with a fractional part: "
                f"indices{_where(frac.first)} = {_number(frac.first_value)}",
                why="the Embedding truncates them to integers, so this is not token-id data",
                fix="rebuild the token ids from the text [no automatic fix]",
                expected="integers",
                received=ctx.array.dtype,
                count=frac.count,
                first=list(frac.first or ()),
            )
    if not inp.embeddings and _integer_dtype(inp.dtype):
        yield from _dtype_mismatch(ctx, inp, stats)


def _dtype_mismatch(ctx: ValueContext, inp: InputSpec, stats: ArrayStats) -> Iterator[Finding]:
    info = np.iinfo(np.dtype(inp.dtype))
    if stats.fractional.count:
        frac = stats.fractional
        yield DtypeMismatch.finding(
            what=f"input '{inp.name}' has dtype {inp.dtype}; this {ctx.array.dtype} array has "
            f"{_plural(frac.count, 'value')} with a fractional part, the first "
            f"at {_where(frac.first)} = {_number(frac.first_value)}",
            why=f"Keras casts the data to {inp.dtype}, silently dropping the fractions",
            fix="round the data on purpose, or give the Input a float dtype [no automatic fix]",
            expected=inp.dtype,
            received=ctx.array.dtype,
        )
    elif (
        stats.min is not None
        and stats.max is not None
        and (stats.min < info.min or stats.max > info.max)
    ):
        yield DtypeMismatch.finding(
            what=f"input '{inp.name}' has dtype {inp.dtype} ([{info.min}, {info.max}]); "
            f"the data spans [{_number(stats.min)}, {_number(stats.max)}]",
            why=f"values beyond {inp.dtype}'s range wrap around when Keras casts them",
            fix="give the Input a wider dtype, or rescale the data [no automatic fix]",
            expected=inp.dtype,
            received=ctx.array.dtype,
        )


def _output_sample(out: OutputSpec) -> Shape | None:
    if out.shape is not None:
        return out.shape[1:]
    return (out.units,) if out.units is not None else None


def _sparse_form(label: tuple[int, ...], out_sample: Shape) -> bool:
    return bool(out_sample) and (label == out_sample[:-1] or label == (*out_sample[:-1], 1))


def _same(label: tuple[int, ...], out_sample: Shape) -> bool:
    return len(label) == len(out_sample) and all(
        o is None or o == d for d, o in zip(label, out_sample, strict=True)
    )


def check_label_values(ctx: ValueContext) -> Iterator[Finding]:
    out, stats, ref = ctx.output, ctx.stats, ctx.array
    if out is None:
        return
    role = f"the labels of output '{out.name}'"
    yield from _non_numeric(ctx, role)
    yield from _nonfinite(ctx, role)
    if ref.ragged and ref.is_numeric and stats is not None and stats.min_length is not None:
        yield _ragged_labels(ctx, out, stats, role)
        return
    loss = out.loss.name if out.loss is not None else None
    out_sample = _output_sample(out)
    if loss is None or out_sample is None or stats is None or stats.min is None or not ref.shape:
        return
    label = ref.shape[1:]
    if out.shape is None and label not in ((), (1,), (out.units,)):
        return  # a legacy .h5 states no output rank: sequence labels cannot be judged
    axis_finding = _loss_axis(out, role)
    if axis_finding is not None:
        yield axis_finding
        return
    units = out.units or 0
    if loss in SPARSE_LOSSES:
        if units > 1 and _same(label, out_sample) and stats.all_onehot:
            yield OnehotWithSparseLoss.finding(
                what=f"{role} are one-hot rows of {format_shape(ref.shape)}; the loss "
                f"{loss} takes integer class ids of shape {format_shape((ref.shape[0],))}",
                why="a sparse loss reads one class id per sample, not a one-hot row",
                fix="np.argmax(y, axis=-1) [safe], or switch the loss to "
                "categorical_crossentropy [safe]",
                expected=[ref.shape[0]],
                received=list(ref.shape),
            )
        elif _sparse_form(label, out_sample):
            yield from _sparse_range(ctx, out, stats, role)
        else:
            yield from _shape_mismatch(ctx, out, out_sample, role, loss)
    elif loss in CATEGORICAL_LOSSES:
        if units > 1 and _sparse_form(label, out_sample) and not _same(label, out_sample):
            yield SparseWithCategoricalLoss.finding(
                what=f"{role} are class ids of shape {format_shape(ref.shape)} (values "
                f"{_number(stats.min)}..{_number(stats.max)}); the loss {loss} takes one-hot "
                f"rows of shape {format_shape((ref.shape[0], *out_sample))}",
                why="a categorical loss compares each label row with the output's "
                f"{units} probabilities",
                fix=f"keras.utils.to_categorical(y, {units}) [safe], or switch the loss to "
                "sparse_categorical_crossentropy [safe]",
                expected=[ref.shape[0], *out_sample],
                received=list(ref.shape),
            )
        elif not _same(label, out_sample):
            yield from _shape_mismatch(ctx, out, out_sample, role, loss)
    else:
        lo, hi = stats.min, stats.max or 0.0
        if loss in BINARY_LOSSES and (lo < 0 or hi > 1):
            yield BinaryLabelRange.finding(
                what=f"{role} span [{_number(lo)}, {_number(hi)}]; the loss "
                f"{loss} takes labels in [0, 1]",
                why="binary cross-entropy has no minimum for labels outside [0, 1]: the model "
                "learns nonsense without an error",
                fix="re-encode the labels as 0/1 [no automatic fix]",
                expected=[0, 1],
                received=[_number(lo), _number(hi)],
            )
        # (N,) for (None, 1), (N, T) for (None, T, 1): Keras expands or squeezes the last axis.
        benign = out_sample[-1:] == (1,) and _same(label, out_sample[:-1])
        if not benign and not _same(label, out_sample):
            yield from _shape_mismatch(ctx, out, out_sample, role, loss)


def _ragged_labels(ctx: ValueContext, out: OutputSpec, stats: ArrayStats, role: str) -> Finding:
    """Label lists of different lengths: sets of classes (multi-label), which no loss takes
    as they are."""
    units = out.units
    encode = (
        f"encode each list as a multi-hot row of {units} (1 at each class it holds) and train "
        "the output with sigmoid and binary_crossentropy"
        if units
        else "give every sample a label of one shape"
    )
    return LabelShapeMismatch.finding(
        what=f"{role} are lists of different lengths ({stats.min_length}..{stats.max_length} "
        f"values each, {stats.rows} samples); output '{out.name}' gives "
        f"{format_shape(out.shape) if out.shape is not None else 'one array'}",
        why="Keras takes labels as one array; lists of different lengths are sets of classes, "
        "not rows it can compare with the output",
        fix=f"{encode} [no automatic fix]",
        expected=None if out.shape is None else list(out.shape),
        received=[stats.rows, None],
        min_length=stats.min_length,
        max_length=stats.max_length,
    )


def _sparse_range(
    ctx: ValueContext, out: OutputSpec, stats: ArrayStats, role: str
) -> Iterator[Finding]:
    units = out.units
    if not units or stats.max is None or stats.min is None:
        return
    above = stats.at_or_above.get(units, Count())
    if stats.integral and stats.min == 1 and stats.max == units:
        yield OneBasedLabels.finding(
            what=f"{role} run from 1 to {units} with no 0; output '{out.name}' has {units} "
            f"units, classes 0..{units - 1}",
            why=f"label {units} is out of range (an error on the CPU, NaN on a GPU) and "
            "class 0 is never trained",
            fix="shift the labels: y - 1 [safe]",
            expected=[0, units - 1],
            received=[1, units],
        )
        return
    if above.count or stats.negative.count:
        candidates = [c for c in (above, stats.negative) if c.count and c.first is not None]
        first = min(candidates, key=lambda c: c.first or ()) if candidates else above
        count = above.count + stats.negative.count
        yield LabelOutOfRange.finding(
            what=f"{role} must be in [0, {units}); {_plural(count, 'label')} outside "
            f"(range {_number(stats.min)}..{_number(stats.max)}): "
            f"Received a label value of {_number(first.first_value)} at "
            f"{_where(first.first)}, outside the valid range of [0, {units})",
            why="the CPU stops with this message; a GPU gives a NaN loss and trains on",
            fix="give the output as many units as classes, or re-encode the labels "
            "[no automatic fix]",
            expected=[0, units],
            received=[_number(stats.min), _number(stats.max)],
            count=count,
            first=list(first.first or ()),
        )


RECURRENT_LAYERS = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional"})
POOLING_FOR_RANK = {
    2: "GlobalAveragePooling1D",
    3: "GlobalAveragePooling2D",
    4: "GlobalAveragePooling3D",
}


def _per_sample_forms(loss: str, units: int | None) -> tuple[tuple[int, ...], ...]:
    """The label shapes (per sample) a loss takes for one prediction per sample."""
    if loss in SPARSE_LOSSES:
        return ((), (1,))
    if units is None:
        return ()
    if units == 1:
        return ((), (1,))
    return ((units,),)


def _head_fix(out: OutputSpec, out_sample: Shape) -> str:
    """How to make the head give one prediction per sample, naming the layer it reads."""
    pooling = POOLING_FOR_RANK.get(len(out_sample), "a global pooling layer")
    head = f"{out.layer_class} '{out.name}'"
    parent = out.parent
    if len(out_sample) == 2 and parent is not None and parent[0] in RECURRENT_LAYERS and parent[2]:
        return (
            f"set return_sequences=False on {parent[0]} '{parent[1]}' (the head then reads its "
            f"last step), or add {pooling} or Flatten before {head}"
        )
    return f"add {pooling} or Flatten before {head}"


def _shape_mismatch(
    ctx: ValueContext, out: OutputSpec, out_sample: Shape, role: str, loss: str
) -> Iterator[Finding]:
    ref, stats = ctx.array, ctx.stats
    label = ref.shape[1:]
    target = (ref.shape[0], *out_sample)
    gives = f"output '{out.name}' gives {format_shape((None, *out_sample))}"
    regression = loss not in SPARSE_LOSSES | CATEGORICAL_LOSSES | BINARY_LOSSES
    base: dict[str, Any] = {"expected": [None, *out_sample], "received": list(ref.shape)}
    if len(out_sample) >= 2 and label in _per_sample_forms(loss, out.units):
        # One label per sample against a head that predicts per step (or per position).
        steps = out_sample[0] if len(out_sample) == 2 else None
        per = "time step" if len(out_sample) == 2 else "position"
        sizes = "x".join("?" if d is None else str(d) for d in out_sample[:-1])
        why = f"the head predicts once per {per} ({sizes} of them) and {loss} " + (
            "broadcasts one label over them all without an error: the loss is "
            "meaningless and training is silently wrong"
            if regression
            else "fails on labels with no such axis"
        )
        fix = _head_fix(out, out_sample)
        if steps is not None:
            repeated = (ref.shape[0], steps, *label)
            yield LabelShapeMismatch.finding(
                what=f"{role} have shape {format_shape(ref.shape)}, one per sample; {gives}, "
                f"one prediction per time step",
                why=why,
                fix=f"{fix} [no automatic fix]; or, if every step should predict the sample's "
                f"label, repeat it per step: np.repeat(y[:, None], {steps}, axis=1) gives "
                f"{format_shape(repeated)} [unsafe]",
                applicability=Applicability.UNSAFE,
                per_step=True,
                repeat_steps=steps,
                **base,
            )
        else:
            # One clear model edit (issue 13): a Flatten before the Dense head reading the map.
            edit: dict[str, Any] | None = (
                {
                    "kind": "flatten_before",
                    "layer": out.name,
                    "params": {},
                    "description": f"a Flatten before '{out.name}'",
                }
                if out.layer_class == "Dense"
                else None
            )
            extra: dict[str, Any] = {"per_step": True, **base}
            if edit is not None:
                extra["edit"] = edit
            yield LabelShapeMismatch.finding(
                what=f"{role} have shape {format_shape(ref.shape)}, one per sample; {gives}, "
                f"one prediction per {per}",
                why=why,
                fix=f"{fix}, so the head gives one prediction per sample "
                + ("[unsafe: kerasfix repair --unsafe-fixes]" if edit else "[no automatic fix]"),
                applicability=Applicability.UNSAFE if edit else Applicability.NONE,
                **extra,
            )
        return
    if (
        loss in SPARSE_LOSSES
        and label == out_sample
        and stats is not None
        and stats.binary
        and not stats.all_onehot
    ):
        yield LabelShapeMismatch.finding(
            what=f"{role} have shape {format_shape(ref.shape)}: rows of 0/1 values with several "
            f"1s (multi-label); {gives} and the loss {loss} takes one class id per sample",
            why="a sparse loss reads one class per sample; multi-label rows need a loss that "
            "scores every class on its own",
            fix="train the output with sigmoid and binary_crossentropy for several classes per "
            "sample, or give one class id per sample [no automatic fix]",
            applicability=Applicability.NONE,
            **base,
        )
        return
    squeezed = tuple(d for d in label if d != 1)
    out_squeezed = tuple(d for d in out_sample if d != 1)
    # Lossless only when the values keep their order: the shapes differ in size-1 axes alone.
    lossless = None not in out_sample and squeezed == out_squeezed
    same_count = None not in out_sample and int(np.prod(label, dtype=np.int64)) == int(
        np.prod([d or 0 for d in out_sample], dtype=np.int64)
    )
    if lossless:
        fix = f"reshape the labels to {format_shape(target)} [safe]"
    elif (
        same_count
        and len(label) == len(out_sample)
        and sorted(label) == sorted(d or 0 for d in out_sample)
    ):
        fix = (
            f"the labels hold as many values as {format_shape(target)} in another order: "
            "transpose them to the output's axis order (a reshape would scramble them) "
            "[no automatic fix]"
        )
    elif len(label) != len(out_sample):
        fix = (
            f"give the labels the output's shape {format_shape(target)}, or the model a head of "
            f"the labels' rank [no automatic fix]"
        )
    else:
        fix = "give the labels the output's shape, or the output the labels' [no automatic fix]"
    yield LabelShapeMismatch.finding(
        what=f"{role} have shape {format_shape(ref.shape)}; {gives} and the loss {loss} compares "
        "them element-wise",
        why="mismatched targets either fail or, with a regression loss, broadcast silently "
        "into a meaningless loss",
        fix=fix,
        applicability=Applicability.SAFE if lossless else Applicability.NONE,
        **base,
    )


def _loss_axis(out: OutputSpec, role: str) -> Finding | None:
    """A categorical loss told to reduce over another axis than the one the head's units
    (its classes) lie on: it normalises over steps or positions instead of classes."""
    loss = out.loss
    if loss is None or loss.axis is None or out.shape is None or len(out.shape) < 3:
        return None
    if loss.name not in CATEGORICAL_LOSSES or out.layer_class not in ("Dense", "Activation"):
        return None
    rank = len(out.shape)
    axis = loss.axis % rank if -rank <= loss.axis < rank else None
    if axis is None or axis == rank - 1:
        return None
    return LabelShapeMismatch.finding(
        what=f"output '{out.name}' gives {format_shape(out.shape)}, its {out.units} classes "
        f"on the last axis; the loss {loss.name} reduces over axis {loss.axis} "
        f"({out.shape[axis]} values) instead, so {role} are scored along the wrong axis",
        why="the loss treats each slice along its axis as one distribution: training runs "
        "without an error and learns the wrong thing",
        fix="compile with keras.losses.CategoricalCrossentropy(axis=-1) [no automatic fix]",
        applicability=Applicability.NONE,
        expected=-1,
        received=loss.axis,
        loss_axis=loss.axis,
    )


CHECKS = (
    Check(
        rules=(
            NonNumeric,
            NonFinite,
            IndexOutOfRange,
            NegativeIndex,
            NonIntegerIndex,
            DtypeMismatch,
        ),
        scope="input_values",
        run=check_input_values,
    ),
    Check(
        rules=(
            NonNumeric,
            NonFinite,
            LabelOutOfRange,
            OneBasedLabels,
            OnehotWithSparseLoss,
            SparseWithCategoricalLoss,
            LabelShapeMismatch,
            BinaryLabelRange,
        ),
        scope="label_values",
        run=check_label_values,
    ),
)
RULES = (
    DtypeMismatch,
    IndexOutOfRange,
    NegativeIndex,
    NonIntegerIndex,
    LabelOutOfRange,
    OneBasedLabels,
    OnehotWithSparseLoss,
    SparseWithCategoricalLoss,
    LabelShapeMismatch,
    BinaryLabelRange,
    NonFinite,
    NonNumeric,
)
