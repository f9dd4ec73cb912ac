"""TFRecord features against the model: what only a shard of `tf.train.Example` records can
get wrong, in the codes of the rules it amounts to.

A record holds each feature as a flat list; the parse function (`tf.io.FixedLenFeature(shape)`)
gives it its shape. So a fixed-length list is compared by its element count with the input's
sample shape (equal: fine, and the report says which shape to parse it with), not by rank; lists
whose length varies are ragged (KF4xx, checked from the value statistics as token lists are);
encoded images are checked from their headers (KF106/KF107 from the shape, KF504/KF505 here).
Pure: they read the shard's survey (loaders.tfrecord.ShardSurvey), never the file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kerasfix.checks.base import Check, Rule
from kerasfix.checks.kf0_read import NoMatchingArray, UnreadableData
from kerasfix.checks.kf1_shapes import FeatureMismatch, Flattened, LengthMismatch, SizeMismatch
from kerasfix.checks.kf2_values import LabelShapeMismatch
from kerasfix.checks.kf5_datasets import MixedSampleShapes, UnreadableSample
from kerasfix.findings import Applicability, Finding, Shape
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.tfrecord import FeatureSurvey, ShardSurvey
from kerasfix.model.contract import InputSpec, ModelContract, OutputSpec, format_shape
from kerasfix.options import DiagnoseOptions

TF_DTYPES = {"int64_list": "tf.int64", "float_list": "tf.float32", "bytes_list": "tf.string"}
KIND_NAMES = {"int64_list": "int64 list", "float_list": "float list", "bytes_list": "bytes list"}


@dataclass(frozen=True)
class FeatureContext:
    """One feature of a shard against the input it feeds or the output it labels."""

    contract: ModelContract
    options: DiagnoseOptions
    array: ArrayRef
    feature: FeatureSurvey
    shard: ShardSurvey
    input: InputSpec | None = None
    output: OutputSpec | None = None


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _feeds(ctx: FeatureContext) -> str:
    if ctx.input is not None:
        return f"input '{ctx.input.name}'"
    assert ctx.output is not None
    return f"the labels of output '{ctx.output.name}'"


def _missing(ctx: FeatureContext) -> Iterator[Finding]:
    """Some records lack the feature: parse_single_example fails on them without a default."""
    missing = ctx.shard.missing(ctx.feature.name)
    if not missing:
        return
    first = ctx.feature.missing_first
    yield NoMatchingArray.finding(
        what=f"feature '{ctx.feature.name}' feeds {_feeds(ctx)} but is missing from "
        f"{missing} of {ctx.shard.records} records"
        + (f" (the first: record {first})" if first is not None else ""),
        why="tf.io.parse_single_example fails on a record without a FixedLenFeature it asks "
        "for (`Feature: ... is required but could not be found`)",
        fix="write the feature into every record, or give the parse spec a default_value; "
        "kerasfix repair --unsafe-fixes drops those records [unsafe]",
        applicability=Applicability.UNSAFE,
        expected=ctx.shard.records,
        received=ctx.feature.present,
        missing=missing,
        first=first,
        feature=ctx.feature.name,
    )


def _mixed_kinds(ctx: FeatureContext) -> Iterator[Finding]:
    kinds = {k: n for k, n in ctx.feature.kinds.items() if k != "none"}
    if len(kinds) < 2:
        return
    main = ctx.feature.kind
    others = sorted((k for k in kinds if k != main), key=lambda k: ctx.feature.first_of_kind[k])
    listed = ", ".join(
        f"a {KIND_NAMES.get(k, k)} in {_plural(kinds[k], 'record')} (the first: record "
        f"{ctx.feature.first_of_kind[k]})"
        for k in others
    )
    yield UnreadableData.finding(
        what=f"feature '{ctx.feature.name}' is a {KIND_NAMES.get(main, main)} in "
        f"{_plural(kinds[main], 'record')} but {listed}",
        why="a parse spec reads one dtype: `Data types don't match` on every record of the "
        "other kind",
        fix="write the feature with one dtype in every record [no automatic fix]",
        expected=main,
        received=sorted(kinds),
    )


def parse_spec(feature: FeatureSurvey, sample: Shape | None) -> str:
    """The parse spec that gives this feature the shape `sample` (the input's sample shape, or
    None for labels), as a user would write it."""
    kind = feature.kind
    dtype = TF_DTYPES.get(kind, "tf.float32")
    if kind == "bytes_list" and feature.is_images:
        channels = sample[-1] if sample and sample[-1] is not None else 0
        return (
            "tf.io.FixedLenFeature([], tf.string), then "
            f"tf.io.decode_image(value, channels={channels}, expand_animations=False)"
        )
    if feature.ragged:
        return f"tf.io.VarLenFeature({dtype}), then tf.sparse.to_dense and pad to one length"
    length = feature.first_length or 0
    if sample is None:
        return f"tf.io.FixedLenFeature({[] if length == 1 else [length]}, {dtype})"
    if None in sample:
        return (
            f"tf.io.VarLenFeature({dtype}), then tf.reshape(tf.sparse.to_dense(value), "
            f"{[-1 if d is None else d for d in sample]})"
        )
    return f"tf.io.FixedLenFeature({list(sample)}, {dtype})"


def _length_fits(length: int, sample: Shape) -> bool:
    known = math.prod(d for d in sample if d is not None)
    if None in sample:
        return known > 0 and length > 0 and length % known == 0
    return length == known


def _element_count(ctx: FeatureContext, inp: InputSpec) -> Iterator[Finding]:
    """A fixed-length numeric list against the input's element count per sample."""
    feature, sample = ctx.feature, inp.sample_shape
    length = feature.first_length or 0
    if feature.ragged or feature.kind not in ("int64_list", "float_list") or not sample:
        return
    if _length_fits(length, sample):
        return
    per_sample = "x".join("?" if d is None else str(d) for d in sample)
    known = math.prod(d or 1 for d in sample)
    declared = (
        f"input '{inp.name}' takes batch_shape={format_shape(inp.batch_shape)}, "
        f"{known if None not in sample else 'a multiple of ' + str(known)} values per example"
    )
    found = f"feature '{feature.name}' holds {length} per record in {feature.present} records"
    base: dict[str, Any] = {
        "expected": list(inp.batch_shape),
        "received": [feature.present, length],
        "feature": feature.name,
    }
    if len(sample) == 1 and sample[0] is not None:
        want = sample[0]
        if inp.reads_token_ids:
            shorter = length < want
            yield LengthMismatch.finding(
                what=f"{declared}; {found}: token lists of length {length}, the input takes {want}",
                why="an Embedding reads (samples, sequence_length) token ids, and the declared "
                f"length is {want}",
                fix=(
                    f"pad every list to {want}: kerasfix repair [safe]"
                    if shorter
                    else f"truncate every list to {want}: kerasfix repair --unsafe-fixes drops "
                    f"{length - want} ids per record [unsafe]"
                ),
                applicability=Applicability.SAFE if shorter else Applicability.UNSAFE,
                axis=1,
                length=length,
                input_length=want,
                **base,
            )
            return
        yield FeatureMismatch.finding(
            what=f"{declared}; {found}",
            why=f"tf.io.FixedLenFeature([{want}]) fails on lists of {length} values "
            "(`Values size: ... but output shape: ...`), and the model's first layer takes "
            f"{want} features",
            fix=f"write {want} values per record, or build the model's input for {length} "
            "[no automatic fix]",
            applicability=Applicability.NONE,
            axis=1,
            **base,
        )
        return
    yield Flattened.finding(
        what=f"{declared} ({per_sample}); {found}: no reshape of {length} values gives "
        f"{format_shape(sample)}",
        why="tf.io.FixedLenFeature(shape) reshapes a record's list only when the counts agree: "
        "`Values size: ... but output shape: ...`",
        fix="write the records for this input's shape, or check that DATA belongs to this "
        "MODEL [no automatic fix]",
        applicability=Applicability.NONE,
        **base,
    )


def for_image_feature(finding: Finding, feature: FeatureSurvey) -> Finding:
    """A size or channel mismatch of encoded images is fixed where they are decoded."""
    if finding.code == SizeMismatch.code:
        want = [d for d in finding.expected[1:3]]
        fix = (
            f"resize where the records are parsed: tf.image.resize(image, ({want[0]}, "
            f"{want[1]})) [unsafe]"
        )
        details = {**finding.details, "feature": feature.name}
        return dataclasses.replace(finding, fix=fix, details=details)
    if finding.code == FeatureMismatch.code:
        want = finding.expected[-1]
        fix = (
            f"decode with tf.io.decode_image(value, channels={want}) [unsafe]"
            if want in (1, 3, 4)
            else finding.fix
        )
        return dataclasses.replace(
            finding,
            fix=fix,
            applicability=Applicability.UNSAFE if want in (1, 3, 4) else finding.applicability,
        )
    return finding


def _images(ctx: FeatureContext) -> Iterator[Finding]:
    found = ctx.feature.images
    if found is None or not ctx.feature.is_images:
        return
    name = ctx.feature.name
    if found.unreadable_count:
        shown = "; ".join(f"record {r}: {reason}" for r, reason in found.unreadable[:3])
        more = found.unreadable_count - min(3, len(found.unreadable))
        yield UnreadableSample.finding(
            what=f"feature '{name}': {_plural(found.unreadable_count, 'record')} of "
            f"{ctx.feature.present} hold no readable image: {shown}"
            + (f"; and {more} more" if more > 0 else ""),
            why="tf.io.decode_image fails the whole input pipeline on the first such record "
            "(`Unknown image file format`, `Invalid PNG data`)",
            fix="re-encode those records' images, or leave the records out [no automatic fix]",
            received=[r for r, _ in found.unreadable],
            reasons={str(r): reason for r, reason in found.unreadable},
            feature=name,
        )
    sizes, channels = found.sizes, found.channels
    if len(sizes) < 2 and len(channels) < 2:
        return
    parts = []
    if len(sizes) > 1:
        listed = ", ".join(
            f"{n} at {w}x{h}" for (h, w), n in sorted(sizes.items(), key=lambda i: (-i[1], i[0]))
        )
        parts.append(f"{len(sizes)} sizes ({listed})")
    if len(channels) > 1:
        listed = ", ".join(
            f"{n} with {c} channel{'' if c == 1 else 's'}"
            for c, n in sorted(channels.items(), key=lambda i: (-i[1], i[0]))
        )
        parts.append(f"{len(channels)} channel counts ({listed})")
    (height, width) = max(sizes, key=lambda s: (sizes[s], s))
    common = max(channels, key=lambda c: (channels[c], c == 3))
    odd = {
        key: rows
        for key, rows in found.examples.items()
        if key not in (f"{width}x{height}", f"{common}ch")
    }
    shown = "; ".join(
        f"{k}: records {', '.join(map(str, rows))}" for k, rows in sorted(odd.items())
    )
    yield MixedSampleShapes.finding(
        what=f"feature '{name}': {found.images} images mix {' and '.join(parts)}; e.g. {shown}",
        why="decode_image gives each image its own size and channels: batching them fails "
        "(`Cannot batch tensors with different shapes`) unless the parse function resizes "
        "and fixes the channels",
        fix=f"decode with channels={common} and resize to {height}x{width} where the records "
        "are parsed [unsafe]",
        expected={"size": [height, width], "channels": common},
        received={
            "sizes": {f"{w}x{h}": n for (h, w), n in sorted(sizes.items())},
            "channels": {str(c): n for c, n in sorted(channels.items())},
        },
        examples=odd,
        feature=name,
    )


def check_record_input(ctx: FeatureContext) -> Iterator[Finding]:
    inp = ctx.input
    if inp is None:
        return
    yield from _missing(ctx)
    yield from _mixed_kinds(ctx)
    yield from _images(ctx)
    yield from _element_count(ctx, inp)


def check_record_label(ctx: FeatureContext) -> Iterator[Finding]:
    out = ctx.output
    if out is None:
        return
    yield from _missing(ctx)
    yield from _mixed_kinds(ctx)
    feature = ctx.feature
    if feature.ragged and feature.kind in ("int64_list", "float_list"):
        yield LabelShapeMismatch.finding(
            what=f"the labels of output '{out.name}' (feature '{feature.name}') are lists of "
            f"{feature.min_length}..{feature.max_length} values; output "
            f"'{out.name}' gives {format_shape(out.shape)}",
            why="labels of several lengths cannot be batched against one output shape",
            fix="write one label list length per record [no automatic fix]",
            applicability=Applicability.NONE,
            expected=list(out.shape) if out.shape is not None else None,
            received=[feature.min_length, feature.max_length],
            feature=feature.name,
        )


CHECKS = (
    Check(
        rules=(
            NoMatchingArray,
            UnreadableData,
            MixedSampleShapes,
            UnreadableSample,
            LengthMismatch,
            FeatureMismatch,
            Flattened,
        ),
        scope="record_input",
        run=check_record_input,
    ),
    Check(
        rules=(NoMatchingArray, UnreadableData, LabelShapeMismatch),
        scope="record_label",
        run=check_record_label,
    ),
)
# The rules these checks report belong to their families' modules.
RULES: tuple[type[Rule], ...] = ()
