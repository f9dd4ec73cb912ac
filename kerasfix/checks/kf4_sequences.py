"""KF4xx: variable-length sequences (token lists in .jsonl/.json, HDF5 vlen, object arrays)."""

from __future__ import annotations

from collections.abc import Iterator

from kerasfix.checks.base import Check, Rule
from kerasfix.checks.kf1_shapes import FeatureMismatch, LengthMismatch, ShapeMismatch
from kerasfix.checks.kf2_values import ValueContext
from kerasfix.findings import Applicability, Finding, Severity
from kerasfix.model.contract import format_shape


class RaggedSequences(Rule):
    """
    ## What it does
    Reports sequences of different lengths (token lists in `.jsonl`/`.json`, HDF5
    variable-length datasets, object arrays) fed to an input that takes one array; also
    sequences of feature vectors (`{"x": [[0.1, 0.2], [0.3, 0.4], ...]}`, or an object array
    of `(steps, features)` arrays) for a recurrent or Conv1D input, whose feature count is
    checked too (KF107).
    TFRecord int64 lists whose length varies across records are ragged too; repair pads each
    record's list.

    ## Why it matters
    Keras 3 fails with `Unrecognized data type: x=[[1, 2, 3], [1, 2]]` or `Invalid dtype:
    object`; tf.keras with `Failed to convert a NumPy array to a Tensor (Unsupported object
    type list)`.

    ## Example
    `[[1, 2, 3], [4, 5], [6, 7, 8, 9]]` for `Input(shape=(4,))`.

    ## Fix safety
    Safe: pad every sequence to the input's length (to the longest where the length is None)
    with `--padding pre|post` and `--pad-value`, as `keras.utils.pad_sequences` does (for
    feature vectors, with `dtype='float32'`, whole steps of the pad value).
    """

    code = "KF401"
    name = "ragged-sequences"
    severity = Severity.ERROR
    repair = "safe: pad"
    applicability = Applicability.SAFE
    trigger = "sequences of different lengths"


class TruncationNeeded(Rule):
    """
    ## What it does
    Reports sequences longer than the input's fixed length, with how many sequences and
    tokens padding to that length would cut.
    The same holds for TFRecord token lists.

    ## Why it matters
    `pad_sequences(maxlen=L)` drops the extra tokens silently (from the front by default):
    text the model never sees.

    ## Example
    Reviews of up to 900 tokens for `Input(shape=(200,))`: 41 % of the tokens are cut.

    ## Fix safety
    Unsafe: truncating (`--truncating pre|post`) loses tokens. Patching the model's input
    length is exact where no weight depends on it.
    """

    code = "KF402"
    name = "truncation-needed"
    severity = Severity.ERROR
    repair = "unsafe: truncate; safe: patch the input length where allowed"
    applicability = Applicability.UNSAFE
    trigger = "sequences longer than the fixed input length"


class PadValueCollision(Rule):
    """
    ## What it does
    Reports a padding value that is also a real token id in the sequences, or a padding
    value other than 0 for an Embedding with `mask_zero=True`.

    ## Why it matters
    After padding, the model cannot tell padding from that token: with `mask_zero=True`
    real tokens 0 are masked out, and padding with another value is never masked at all.

    ## Example
    Vocabulary ids starting at 0 and padded with 0.

    ## Fix safety
    No automatic fix: shift the vocabulary by one (0 reserved for padding) or pick another
    `--pad-value`.
    """

    code = "KF403"
    name = "pad-value-collision"
    severity = Severity.WARNING
    repair = "none"
    applicability = Applicability.NONE
    trigger = "the padding value is a real token id, or not 0 with mask_zero=True"


def _pad_call(maxlen: int, float_steps: bool, options_text: str = "") -> str:
    """keras.utils.pad_sequences as it must be called: its default dtype is int32, which
    would truncate feature values to integers."""
    dtype = ", dtype='float32'" if float_steps else ""
    return f"keras.utils.pad_sequences(x, maxlen={maxlen}{dtype}{options_text})"


def check_sequences(ctx: ValueContext) -> Iterator[Finding]:
    inp, stats, ref, options = ctx.input, ctx.stats, ctx.array, ctx.options
    if inp is None or not ref.ragged or stats is None or stats.min_length is None:
        return
    assert stats.max_length is not None
    step = ref.step_shape
    declared = f"input '{inp.name}' takes batch_shape={format_shape(inp.batch_shape)}"
    lengths = (
        f"{stats.min_length}..{stats.max_length}"
        if stats.min_length != stats.max_length
        else f"{stats.min_length}"
    )
    found = (
        f"{stats.rows} sequences of {lengths} steps of {step[0]} features"
        if step
        else f"{stats.rows} sequences of length {lengths}"
    )
    received_shape = [stats.rows, None, *step]
    if len(inp.sample_shape) != 1 + len(step):
        yield ShapeMismatch.finding(
            what=f"{declared}; found {found}",
            why="variable-length token lists fit only a (samples, sequence_length) input"
            if not step
            else "sequences of feature vectors fit only a (samples, timesteps, features) input",
            fix="rebuild the data for this input [no automatic fix]",
            expected=list(inp.batch_shape),
            received=received_shape,
        )
        return
    if step and inp.sample_shape[1] is not None and inp.sample_shape[1] != step[0]:
        want = inp.sample_shape[1]
        yield FeatureMismatch.finding(
            what=f"{declared}; found {found}, the input takes {want} features per step",
            why="each step must hold exactly the features the input declares; Keras fails on "
            "any other count",
            fix=f"rebuild the features to {want} per step, or the model's input for {step[0]} "
            "[no automatic fix]",
            applicability=Applicability.NONE,
            expected=list(inp.batch_shape),
            received=received_shape,
            axis=2,
        )
    float_steps = bool(step) and ref.kind == "f"
    length = inp.sample_shape[0]
    target = length if length is not None else stats.max_length
    padding_needed = stats.min_length < target
    if stats.min_length != stats.max_length:
        yield RaggedSequences.finding(
            what=f"{declared}; found {found}",
            why="Keras takes one rectangular array, not lists of different lengths",
            fix=f"pad to {target}: "
            + _pad_call(
                target,
                float_steps,
                f", padding='{options.padding}', value={options.pad_value:g}",
            )
            + " [safe]",
            expected=list(inp.batch_shape),
            received=received_shape,
            maxlen=target,
            min_length=stats.min_length,
            max_length=stats.max_length,
        )
    elif length is not None and stats.min_length < length:
        yield LengthMismatch.finding(
            what=f"{declared}; found {found}, the input takes {length}",
            why="the declared length is the one the model was built for",
            fix=f"pad to {length}: {_pad_call(length, float_steps)} [safe]",
            applicability=Applicability.SAFE,
            expected=list(inp.batch_shape),
            received=[stats.rows, stats.min_length, *step],
            axis=1,
            length=stats.min_length,
            input_length=length,
        )
    if length is not None and stats.longer:
        share = stats.tokens_over / max(stats.tokens, 1)
        yield TruncationNeeded.finding(
            what=f"{declared}; {stats.longer} of {stats.rows} sequences are longer "
            f"(up to {stats.max_length}): padding to {length} cuts {stats.tokens_over} of "
            f"{stats.tokens} {'steps' if step else 'tokens'} ({share:.1%})",
            why=f"pad_sequences drops the extra {'steps' if step else 'tokens'} silently, from the "
            f"{'front' if options.truncating == 'pre' else 'end'}",
            fix=f"truncate with --truncating {options.truncating} [unsafe]",
            expected=length,
            received=stats.max_length,
            sequences=stats.longer,
            tokens_lost=stats.tokens_over,
        )
    if not padding_needed:
        return
    masked = any(e.mask_zero for e in inp.embeddings)
    pad = options.pad_value
    if masked and pad != 0:
        yield PadValueCollision.finding(
            what=f"the pad value is {pad:g}, but Embedding "
            f"'{next(e.layer for e in inp.embeddings if e.mask_zero)}' masks 0 (mask_zero=True)",
            why="padding with another value is never masked: the model reads it as tokens",
            fix="pad with 0 (--pad-value 0) [no automatic fix]",
            severity=Severity.ERROR,
            expected=0,
            received=pad,
        )
    elif stats.pad_hits.count:
        hits = stats.pad_hits
        yield PadValueCollision.finding(
            what=f"the pad value {pad:g} is also a real token: {hits.count} occurrence"
            f"{'' if hits.count == 1 else 's'}, the "
            f"first at [{', '.join(map(str, hits.first or ()))}]",
            why="after padding, that token and padding are the same id"
            + ("; mask_zero=True masks the real ones too" if masked else ""),
            fix="reserve the pad value: shift the vocabulary by one, or choose another "
            "--pad-value [no automatic fix]",
            severity=Severity.ERROR if masked else Severity.WARNING,
            expected="unused",
            received=hits.count,
        )


CHECKS = (
    Check(
        rules=(
            RaggedSequences,
            TruncationNeeded,
            PadValueCollision,
            LengthMismatch,
            ShapeMismatch,
            FeatureMismatch,
        ),
        scope="input_values",
        run=check_sequences,
    ),
)
RULES = (RaggedSequences, TruncationNeeded, PadValueCollision)
