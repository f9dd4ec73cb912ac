"""KF1xx: a data array's shape against the model input it feeds.

The rules compare a header's shape with the `batch_shape` the model declares; they never
guess layer arithmetic. One array gets the first explanation that fits, in this order:
one sample without its batch axis, a missing or extra size-1 axis, a transposition, a
flattening, then axis by axis (length, spatial size, features); else a plain mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from kerasfix.checks.base import Check, InputContext, Rule
from kerasfix.findings import Applicability, DataShape, Finding, Severity, Shape
from kerasfix.model.contract import InputSpec, format_shape

# How many reshape candidates a finding lists before it only counts them.
MAX_LISTED_CANDIDATES = 6

RNN_LAYERS = frozenset(
    {
        "LSTM",
        "GRU",
        "SimpleRNN",
        "RNN",
        "Bidirectional",
        "CuDNNLSTM",
        "CuDNNGRU",
        "TimeDistributed",
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
    }
)


class ShapeMismatch(Rule):
    """
    ## What it does
    Reports data whose shape matches the model input by no known transform: not a missing
    or extra axis, not a transposition, not a flattening, not a single differing axis.

    ## Why it matters
    `fit` fails with `Invalid input shape for input ...` (Keras 3) or `expected ndim=3, found
    ndim=5` (tf.keras), or trains on a misread array.

    ## Example
    An input `(None, 10, 3)` fed `(100, 7, 2, 2, 2)`.

    ## Fix safety
    No automatic fix: the array was built for another model, or the model for other data.
    """

    code = "KF100"
    name = "shape-mismatch"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "data shape matches the input by no known transform"


class MissingAxis(Rule):
    """
    ## What it does
    Reports data that lacks a size-1 axis the input declares: `(N, 10)` for `(None, 10, 1)`
    (an LSTM's single feature), grayscale `(N, 28, 28)` for `(None, 28, 28, 1)`.

    ## Why it matters
    Keras 2 and tf.keras fail with `expected ndim=3, found ndim=2`. Keras 3 adds a missing
    *trailing* axis itself, so there it is a warning: the same data breaks in Keras 2, in an
    exported SavedModel and in serving, and if the 10 columns were meant as 10 features (not
    10 timesteps) the model silently trains on the wrong reading.

    ## Example
    The seed's LSTM: `LSTM(32, input_shape=(10, 1))` fed `np.random.rand(100, 10)`.

    ## Fix safety
    Safe: `np.expand_dims(x, axis)` adds the axis and loses nothing.
    """

    code = "KF101"
    name = "missing-axis"
    severity = Severity.ERROR
    repair = "safe: expand_dims"
    applicability = Applicability.SAFE
    trigger = "a size-1 axis the input declares is missing"


class ExtraAxis(Rule):
    """
    ## What it does
    Reports data with one size-1 axis more than the input declares: `(N, 10, 3, 1)` for
    `(None, 10, 3)`.

    ## Why it matters
    Keras 2 fails with `expected ndim=3, found ndim=4`. Keras 3 squeezes a *trailing* size-1
    axis itself (a warning here: serving and Keras 2 will not); any other extra axis fails.

    ## Example
    Labels-style `(N, 28, 28, 1, 1)` images for a `(None, 28, 28, 1)` input.

    ## Fix safety
    Safe: `np.squeeze(x, axis)` drops an axis of size 1 and loses nothing.
    """

    code = "KF102"
    name = "extra-axis"
    severity = Severity.ERROR
    repair = "safe: squeeze"
    applicability = Applicability.SAFE
    trigger = "the data has a size-1 axis too many"


class ChannelOrder(Rule):
    """
    ## What it does
    Reports data whose axes are the input's axes in another order: channels-first images
    `(N, 3, 32, 32)` for a channels-last input `(None, 32, 32, 3)` (or the reverse), and
    `(N, features, timesteps)` sequences for a `(None, timesteps, features)` input.

    ## Why it matters
    Keras fails with `expected axis -1 of input shape to have value 3`; where the sizes happen
    to agree, it trains on scrambled pixels or steps without any error.

    ## Example
    A PyTorch-style `(N, 3, 224, 224)` array fed to a Keras `(None, 224, 224, 3)` model.

    ## Fix safety
    Safe: `np.transpose` moves the axis and loses nothing.
    """

    code = "KF103"
    name = "channel-order"
    severity = Severity.ERROR
    repair = "safe: transpose"
    applicability = Applicability.SAFE
    trigger = "channels-first data for a channels-last input, or the reverse"


class Flattened(Rule):
    """
    ## What it does
    Reports data with the same number of elements per sample as the input but another rank:
    `(N, 784)` for `(None, 28, 28, 1)`. When the input leaves several axes open (`None`),
    more than one reshape fits (784 is 28x28 and 7x112): all are listed, none is chosen.
    A TFRecord feature is a flat list per record: a list whose length is the input's element
    count is fine (parse it with `tf.io.FixedLenFeature(shape)`); another length for a
    multi-axis input is KF104 with both counts, no automatic fix.

    ## Why it matters
    Keras fails with `Invalid input shape` / `expected ndim=4, found ndim=2`.

    ## Example
    MNIST loaded as flat vectors for a Conv2D model.

    ## Fix safety
    Safe when exactly one target shape fits: `x.reshape(N, 28, 28, 1)` (C order) loses
    nothing. When several fit, no automatic fix: choose one yourself.
    """

    code = "KF104"
    name = "flattened"
    severity = Severity.ERROR
    repair = "safe: reshape"
    applicability = Applicability.SAFE
    trigger = "same element count, different rank"


class LengthMismatch(Rule):
    """
    ## What it does
    Reports sequences whose length (the time axis, or the token axis an Embedding reads)
    differs from the fixed length the input declares.
    TFRecord token lists of one length other than the input's are KF105 too; repair pads
    (or, with `--unsafe-fixes`, truncates) each record's list.

    ## Why it matters
    A length feeding `Flatten -> Dense` fails with `expected axis -1 ... to have value`; a
    length feeding an LSTM or a pooling layer is accepted by Keras 3 silently, so the model
    trains on sequences it was not built for.

    ## Example
    `Input(shape=(20,)) -> Embedding -> LSTM` fed `(N, 35)` token ids.

    ## Fix safety
    Safe for shorter data: pad to the length with `keras.utils.pad_sequences(x, maxlen=L)`.
    Unsafe for longer data: truncating loses steps. Patching the model's input length is
    exact where no weight depends on it.
    """

    code = "KF105"
    name = "length-mismatch"
    severity = Severity.ERROR
    repair = "safe: pad or patch the input length; unsafe: truncate"
    applicability = Applicability.SAFE
    trigger = "the sequence (time) axis differs from a fixed input length"


class SizeMismatch(Rule):
    """
    ## What it does
    Reports images (or volumes) whose spatial size differs from the size the input declares:
    `32x32` for `28x28`.
    Encoded images in a TFRecord `bytes` feature are checked from their headers the same way.

    ## Why it matters
    A size feeding `Flatten -> Dense` fails with `expected axis -1 of input shape to have
    value 3600, but received ... 15376`; a size feeding global pooling trains silently on
    another resolution than the model's.

    ## Example
    CIFAR-10 `(N, 32, 32, 3)` images for a `(None, 28, 28, 3)` model.

    ## Fix safety
    Unsafe on the data: center-crop, pad or resize change pixels. Patching the model's input
    size is exact where no weight depends on it (global pooling).
    """

    code = "KF106"
    name = "size-mismatch"
    severity = Severity.ERROR
    repair = "safe: patch the input size; unsafe: crop / pad / resize"
    applicability = Applicability.UNSAFE
    trigger = "spatial size differs"


class FeatureMismatch(Rule):
    """
    ## What it does
    Reports data whose feature (or channel) axis differs from the input's: 5 features for an
    input of 3, grayscale for RGB, RGBA for RGB.
    A TFRecord feature list of another length for a `(None, features)` input is KF107, and so
    is the channel count of encoded images in a `bytes` feature.

    ## Why it matters
    Keras 3 fails with `expected axis -1 of input shape to have value 3, but received input
    with shape (None, 20, 5)`; into an LSTM, Keras 3 says only `Cannot take the length of
    shape with unknown rank`.

    ## Example
    The seed's Conv1D model `input_shape=(10, 3)` fed `(N, 10, 5)`.

    ## Fix safety
    Unsafe where a conversion exists, applied to image arrays by `kerasfix repair
    --unsafe-fixes`: grayscale to RGB repeats the channel, RGB (or RGBA) to grayscale keeps
    the luma (ITU-R 601-2, as Pillow and `tf.image.rgb_to_grayscale`), RGBA to RGB drops
    alpha. An image folder is converted where it is loaded (`color_mode`). Otherwise no fix:
    the features are different data.
    """

    code = "KF107"
    name = "feature-mismatch"
    severity = Severity.ERROR
    repair = "unsafe: grayscale<->RGB, drop alpha; else none"
    applicability = Applicability.NONE
    trigger = "the feature/channel axis differs"


class MissingBatchAxis(Rule):
    """
    ## What it does
    Reports a single sample given without its batch axis: `(28, 28, 1)` for
    `(None, 28, 28, 1)`, `(784,)` for `(None, 784)`.

    ## Why it matters
    Keras reads the first axis as samples: `predict` fails with `Expected shape (None, 784),
    but input has incompatible shape (32,)`, or reads 28 "samples" of shape `(28, 1)`.

    ## Example
    `model.predict(image)` on one image.

    ## Fix safety
    Safe: `np.expand_dims(x, 0)` makes a batch of one.
    """

    code = "KF108"
    name = "missing-batch-axis"
    severity = Severity.ERROR
    repair = "safe: expand_dims(0)"
    applicability = Applicability.SAFE
    trigger = "one sample without its batch axis"


def _matches(shape: Shape, spec: Shape) -> bool:
    return len(shape) == len(spec) and all(
        s is None or s == d for d, s in zip(shape, spec, strict=False)
    )


def _expects(inp: InputSpec) -> str:
    return (
        f"input '{inp.name}' expects ndim={inp.ndim}, batch_shape={format_shape(inp.batch_shape)}"
    )


def _found(shape: DataShape) -> str:
    return f"found ndim={len(shape)}, shape={format_shape(shape)}"


def _reads(inp: InputSpec) -> str:
    """What the first layer reads, in its own terms."""
    consumers = set(inp.consumers)
    first = inp.consumers[0] if inp.consumers else "model"
    article = _article(first)
    if inp.reads_token_ids:
        return "an Embedding reads (samples, sequence_length) token ids"
    if consumers & RNN_LAYERS:
        return f"{article} {first} reads (samples, timesteps, features)"
    if len(inp.sample_shape) == 1:
        return f"{article} {first} reads (samples, features)"
    if inp.data_format == "channels_first":
        return f"{article} {first} reads (samples, channels, {_spatial_names(inp)})"
    if len(inp.sample_shape) == 2:
        return f"{article} {first} reads (samples, steps, channels)"
    return f"{article} {first} reads (samples, {_spatial_names(inp)}, channels)"


def _article(word: str) -> str:
    """`an LSTM`, `a GRU`, `an Embedding`, `a Conv2D`: acronyms go by the letter's sound."""
    vowel_sounds = "AEFHILMNORSX" if word[:2].isupper() else "AEIOUaeiou"
    return "an" if word[:1] in vowel_sounds else "a"


def _spatial_names(inp: InputSpec) -> str:
    n = len(inp.sample_shape) - 1
    return {2: "height, width", 3: "depth, height, width"}.get(n, ", ".join(["size"] * max(n, 1)))


def _axis_roles(inp: InputSpec) -> list[str]:
    """Each sample axis: "length" (time or tokens), "spatial" or "feature"."""
    n = len(inp.sample_shape)
    if inp.reads_token_ids:
        return ["length"] * n
    if n == 1:
        return ["feature"]
    if n >= 3 and set(inp.consumers) & RNN_LAYERS:
        # TimeDistributed / ConvLSTM inputs: (timesteps, spatial..., channels).
        return ["length"] + ["spatial"] * (n - 2) + ["feature"]
    if inp.data_format == "channels_first":
        return ["feature"] + (["length"] if n == 2 else ["spatial"] * (n - 1))
    return (["length"] if n == 2 else ["spatial"] * (n - 1)) + ["feature"]


def reshape_candidates(elements: int, spec: Shape, limit: int = 10_000) -> list[Shape]:
    """Every sample shape with `elements` values that fits `spec` (None = any size)."""
    known = math.prod(d for d in spec if d is not None)
    if known == 0 or elements % known:
        return []
    free = [i for i, d in enumerate(spec) if d is None]
    rest = elements // known
    if not free:
        return [spec] if rest == 1 else []
    results: list[Shape] = []

    def split(remaining: int, slots: int) -> Iterator[tuple[int, ...]]:
        if slots == 1:
            yield (remaining,)
            return
        for d in range(1, remaining + 1):
            if remaining % d == 0:
                for tail in split(remaining // d, slots - 1):
                    yield (d, *tail)

    for sizes in split(rest, len(free)):
        shape = list(spec)
        for i, size in zip(free, sizes, strict=False):
            shape[i] = size
        results.append(tuple(shape))
        if len(results) >= limit:
            break

    def balance(shape: Shape) -> tuple[int, float, Shape]:
        # Listed most even first (28x28 before 7x112, size-1 axes last); nothing is chosen.
        sizes = [shape[i] or 1 for i in free]
        return (sizes.count(1), max(sizes) / min(sizes), shape)

    return sorted(results, key=balance)


def check_input_shape(ctx: InputContext) -> Iterator[Finding]:
    inp, data = ctx.input, ctx.array.shape
    expected, spec = inp.batch_shape, inp.sample_shape
    if not expected:
        return  # the model does not declare a rank (an unknown-rank signature)
    sample = data[1:]
    if len(data) == len(expected) and _matches(sample, spec):
        return
    if spec and len(data) == len(spec) and _matches(data, spec):
        yield MissingBatchAxis.finding(
            what=f"{_expects(inp)}; {_found(data)}, one sample without its batch axis",
            why=f"Keras reads the first axis as samples, so this would be {data[0]} samples "
            f"of shape {format_shape(data[1:])}",
            fix=f"add the batch axis: np.expand_dims(x, 0) gives {format_shape((1, *data))} [safe]",
            expected=list(expected),
            received=list(data),
            axis=0,
        )
        return
    if len(data) == len(expected) - 1 and data:
        yield from _missing_axis(inp, data, ctx.contract.adapts_input_rank)
        return
    if len(data) == len(expected) + 1 and data:
        found = _extra_axis(inp, data, ctx.contract.adapts_input_rank)
        if found is not None:
            yield found
            return
    if len(data) == len(expected) and len(spec) >= 2:
        found = _transposed(inp, data)
        if found is not None:
            yield found
            return
    if len(data) != len(expected) and data:
        found = _flattened(inp, data)
        if found is not None:
            yield found
            return
    if len(data) == len(expected):
        yield from _axis_by_axis(inp, data)
        return
    yield ShapeMismatch.finding(
        what=f"{_expects(inp)}; {_found(data)}",
        why=f"{_reads(inp)}; no added, dropped or moved axis turns this array into that",
        fix="rebuild the array for this model, or check that DATA belongs to this MODEL",
        expected=list(expected),
        received=list(data),
    )


def _missing_axis(inp: InputSpec, data: DataShape, adapts: bool) -> Iterator[Finding]:
    spec, sample = inp.sample_shape, data[1:]
    positions = [
        p
        for p in range(len(spec))
        if spec[p] == 1 and _matches((*sample[:p], 1, *sample[p:]), spec)
    ]
    if not positions:
        yield from _fallback(inp, data)
        return
    # Prefer the last axis: Keras 3 expands a trailing axis itself, and features/channels sit
    # last in channels-last data.
    axis = positions[-1] + 1
    target = (*data[:axis], 1, *data[axis:])
    trailing = axis == len(data)
    lenient = trailing and adapts
    if lenient:
        why = (
            f"{_reads(inp)}; Keras 3 adds the trailing axis itself, but Keras 2, tf.keras, "
            "exported SavedModels and serving fail on this data"
        )
    else:
        why = f"{_reads(inp)}; this data has no axis {axis} of size 1"
    yield MissingAxis.finding(
        what=f"{_expects(inp)}; {_found(data)}",
        why=why,
        fix=f"add the axis: np.expand_dims(x, {-1 if trailing else axis}) gives "
        f"{format_shape(target)} [safe]",
        severity=Severity.WARNING if lenient else Severity.ERROR,
        expected=list(inp.batch_shape),
        received=list(data),
        axis=axis,
        target_shape=list(target),
        keras3_implicit=lenient,
    )


def _extra_axis(inp: InputSpec, data: DataShape, adapts: bool) -> Finding | None:
    spec, sample = inp.sample_shape, data[1:]
    positions = [
        p
        for p in range(len(sample))
        if sample[p] == 1 and _matches(sample[:p] + sample[p + 1 :], spec)
    ]
    if not positions:
        return None
    axis = positions[-1] + 1
    target = data[:axis] + data[axis + 1 :]
    trailing = axis == len(data) - 1
    lenient = trailing and adapts
    why = (
        "Keras 3 squeezes a trailing size-1 axis itself, but Keras 2, tf.keras and serving "
        "fail on this data"
        if lenient
        else f"axis {axis} has size 1 and no place in the input's shape"
    )
    return ExtraAxis.finding(
        what=f"{_expects(inp)}; {_found(data)}",
        why=why,
        fix=f"drop the axis: np.squeeze(x, {-1 if trailing else axis}) gives "
        f"{format_shape(target)} [safe]",
        severity=Severity.WARNING if lenient else Severity.ERROR,
        expected=list(inp.batch_shape),
        received=list(data),
        axis=axis,
        target_shape=list(target),
        keras3_implicit=lenient,
    )


def _transposed(inp: InputSpec, data: DataShape) -> Finding | None:
    spec, sample = inp.sample_shape, data[1:]
    n = len(sample)
    first_to_last = (0, *range(2, n + 1), 1)
    last_to_first = (0, n, *range(1, n))
    for axes in (first_to_last, last_to_first):
        moved = tuple(data[a] for a in axes)
        if not _matches(moved[1:], spec):
            continue
        if n == 2:
            reading = (
                "(features, timesteps) data for a (timesteps, features) input"
                if _axis_roles(inp)[0] == "length"
                else "axes swapped against the input's"
            )
        elif axes == first_to_last:
            reading = "channels-first data for a channels-last input"
        else:
            reading = "channels-last data for a channels-first input"
        return ChannelOrder.finding(
            what=f"{_expects(inp)}; {_found(data)}: {reading}",
            why=f"{_reads(inp)}; fed as is, sizes clash or, where they agree, values are "
            "read in the wrong order",
            fix=f"move the axis: np.transpose(x, {axes}) gives {format_shape(moved)} [safe]",
            expected=list(inp.batch_shape),
            received=list(data),
            axes=list(axes),
            target_shape=list(moved),
        )
    return None


def _flattened(inp: InputSpec, data: DataShape) -> Finding | None:
    spec = inp.sample_shape
    if len(data) == 1:
        # The whole array is flat, samples included: only a fully declared input says how.
        if any(d is None for d in spec) or not spec:
            return None
        per_sample = math.prod(d or 0 for d in spec)
        if per_sample == 0 or data[0] % per_sample:
            return None
        samples = data[0] // per_sample
        target = (samples, *spec)
        # Whether these are `samples` samples is the labels' to say: nothing is applied.
        return Flattened.finding(
            what=f"{_expects(inp)}; {_found(data)}: one flat vector, samples included; "
            f"{data[0]} values are {samples} samples of {per_sample} if that is how it was "
            "flattened",
            why=f"{_reads(inp)}; a flat array has no sample axis to train on",
            fix=f"if it holds {samples} samples: x.reshape{format_shape(target)}; check the "
            "count against the labels [no automatic fix]",
            applicability=Applicability.NONE,
            expected=list(inp.batch_shape),
            received=list(data),
            candidates=[list(target)],
        )
    else:
        candidates = reshape_candidates(math.prod(data[1:]), spec)
        samples = data[0]
    if not candidates:
        return None
    targets = [(samples, *c) for c in candidates]
    if len(targets) == 1:
        return Flattened.finding(
            what=f"{_expects(inp)}; {_found(data)}: the same {math.prod(data[1:])} "
            "values per sample, flattened",
            why=f"{_reads(inp)}; the values are there but not in the input's shape",
            fix=f"reshape: x.reshape{format_shape(targets[0])} [safe]",
            expected=list(inp.batch_shape),
            received=list(data),
            target_shape=list(targets[0]),
            candidates=[list(targets[0])],
        )
    listed = ", ".join(format_shape(t) for t in targets[:MAX_LISTED_CANDIDATES])
    more = f" and {len(targets) - MAX_LISTED_CANDIDATES} more" if len(targets) > 6 else ""
    return Flattened.finding(
        what=f"{_expects(inp)}; {_found(data)}: {len(targets)} reshapes fit: {listed}{more}",
        why="the input leaves several axes open, so the data alone cannot say which shape "
        "it was flattened from",
        fix="reshape to the shape the data was built with, e.g. x.reshape(...); kerasfix "
        "will not guess [no automatic fix]",
        applicability=Applicability.NONE,
        expected=list(inp.batch_shape),
        received=list(data),
        candidates=[list(t) for t in targets[:100]],
    )


def _fallback(inp: InputSpec, data: DataShape) -> Iterator[Finding]:
    found = _flattened(inp, data)
    if found is not None:
        yield found
        return
    yield ShapeMismatch.finding(
        what=f"{_expects(inp)}; {_found(data)}",
        why=f"{_reads(inp)}; no added, dropped or moved axis turns this array into that",
        fix="rebuild the array for this model, or check that DATA belongs to this MODEL",
        expected=list(inp.batch_shape),
        received=list(data),
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# (found channels, wanted channels) -> what converting does; kerasfix repair --unsafe-fixes
# applies them to image arrays (repair/transforms.py convert_channels).
_RGB_CONVERSIONS = {
    (1, 3): "grayscale to RGB (the one channel repeated)",
    (3, 1): "RGB to grayscale (the luma)",
    (4, 3): "RGBA to RGB (alpha dropped)",
    (4, 1): "RGBA to grayscale (the luma, alpha dropped)",
}


def _axis_by_axis(inp: InputSpec, data: DataShape) -> Iterator[Finding]:
    spec, sample = inp.sample_shape, data[1:]
    roles = _axis_roles(inp)
    differing = [
        (axis, role)
        for axis, (got, want, role) in enumerate(zip(sample, spec, roles, strict=False), start=1)
        if want is not None and got != want
    ]
    length_axes = [a for a, r in differing if r == "length"]
    spatial_axes = [a for a, r in differing if r == "spatial"]
    feature_axes = [a for a, r in differing if r == "feature"]
    base: dict[str, Any] = {"expected": list(inp.batch_shape), "received": list(data)}
    for axis in length_axes:
        want, got = spec[axis - 1], data[axis]
        assert want is not None
        shorter = got < want
        yield LengthMismatch.finding(
            what=f"{_expects(inp)}; {_found(data)}: sequences of length {got}, "
            f"the input takes {want}",
            why=(
                f"{_reads(inp)}; the declared length is {want}, and whether the layers "
                "after it accept other lengths is not something to leave to chance"
            ),
            fix=(
                f"pad to {want}: keras.utils.pad_sequences(x, maxlen={want}) [safe]"
                if shorter
                else f"truncate to {want}: keras.utils.pad_sequences(x, maxlen={want}) drops "
                f"{got - want} steps per sample [unsafe]"
            ),
            applicability=Applicability.SAFE if shorter else Applicability.UNSAFE,
            axis=axis,
            length=got,
            input_length=want,
            **base,
        )
    if spatial_axes:
        got_size = "x".join(str(data[a]) for a in spatial_axes)
        want_size = "x".join(str(spec[a - 1]) for a in spatial_axes)
        yield SizeMismatch.finding(
            what=f"{_expects(inp)}; {_found(data)}: spatial size {got_size}, "
            f"the input takes {want_size}",
            why=f"{_reads(inp)}; layers after a Flatten fail on another size, global pooling "
            "trains silently on another resolution",
            fix=f"resize or center-crop the data to {want_size} [unsafe]",
            axes=spatial_axes,
            **base,
        )
    for axis in feature_axes:
        want, got = spec[axis - 1], data[axis]
        assert want is not None
        conversion = _RGB_CONVERSIONS.get((int(got), want)) if len(spec) >= 3 else None
        noun = "channel" if len(spec) >= 2 and not set(inp.consumers) & RNN_LAYERS else "feature"
        extra: dict[str, Any] = {"channels": [int(got), want]} if conversion else {}
        yield FeatureMismatch.finding(
            what=f"{_expects(inp)}; {_found(data)}: {_count(got, noun)}, the input takes {want}",
            why=f"{_reads(inp)}; axis {axis} must hold {_count(want, noun)}, and Keras fails "
            "on any other count",
            fix=(
                f"convert {conversion}: kerasfix repair --unsafe-fixes [unsafe]"
                if conversion
                else f"rebuild the features to {want} per step, or the model's input for {got} "
                "[no automatic fix]"
            ),
            applicability=Applicability.UNSAFE if conversion else Applicability.NONE,
            axis=axis,
            **extra,
            **base,
        )


CHECKS = (
    Check(
        rules=(
            ShapeMismatch,
            MissingAxis,
            ExtraAxis,
            ChannelOrder,
            Flattened,
            LengthMismatch,
            SizeMismatch,
            FeatureMismatch,
            MissingBatchAxis,
        ),
        scope="input",
        run=check_input_shape,
    ),
)
RULES = (
    ShapeMismatch,
    MissingAxis,
    ExtraAxis,
    ChannelOrder,
    Flattened,
    LengthMismatch,
    SizeMismatch,
    FeatureMismatch,
    MissingBatchAxis,
)
