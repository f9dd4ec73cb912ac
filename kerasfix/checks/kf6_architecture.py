"""KF601: an architecture Keras cannot build, and the cause behind the layer that breaks.

Keras decides whether a layer can take what it receives (model/build.py asks it, in a child
process); this module only reads Keras's answer against the layer graph the config declares,
names the likely cause from a catalogue of the common ones, and the change that fixes it. An
edit is offered for repair only where one change is clearly right; where several are
plausible, they are listed and none is chosen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kerasfix.checks.base import Check, ModelContext, Rule
from kerasfix.findings import Applicability, Finding, Severity, Shape
from kerasfix.model.architecture import BuildOutcome, LayerBreak, LayerNode
from kerasfix.model.config import MODEL_CLASSES
from kerasfix.model.contract import format_shape


class LayerChainBreak(Rule):
    """
    ## What it does
    Builds the model's architecture with Keras (from the saved config, in Keras's safe mode,
    in a child process) and reports the first layer that cannot take what the layer before
    it gives: the layer's name and class, the shape it received, what it needs, the likely
    cause (an LSTM after an LSTM without `return_sequences=True`, a `Conv1D` on images, a
    `Reshape` that does not hold the elements, poolings that shrink a small image below
    zero, a `Conv2D` on `(28, 28)` with no channel axis, a `Concatenate` of different
    lengths, a `Flatten` of a `None`-sized input before a `Dense`, ...) and the change that
    fixes it. Where the model builds for its declared input but not for the shapes the
    data has (smaller images, odd sizes a U-Net cannot halve), the finding is on the data
    file and says which layer the data would break and whether the data or the model
    should change.

    ## Why it matters
    `model.fit` never starts: Keras raises while building, often with a message that names
    an inner layer (`Input 0 of layer "lstm_1" is incompatible with the layer: expected
    ndim=3, found ndim=2`) that users read as a problem with their data. Checking only the
    data against the model's inputs would give such a model an all-clear.

    ## Example
    `Sequential([Input((10, 3)), LSTM(32), LSTM(16), Dense(1)])`: the first LSTM gives one
    vector per sample, `(None, 32)`; the second needs `(samples, steps, features)`. Fix:
    `return_sequences=True` on the first LSTM.

    ## Fix safety
    Unsafe (it changes what the model computes), and only where one edit is clearly right:
    `return_sequences=True` on the recurrent layer before, `padding="same"` on the
    convolution or pooling that goes below zero, a channel axis on the input, a `Flatten`
    before a `Dense` head. `kerasfix repair --unsafe-fixes` writes the edited model after
    Keras confirms it builds, maps the data and trains one step; every weight whose shape
    is unchanged is kept. Otherwise the candidate changes are listed and none is applied.
    """

    # The cause catalogue (id, what kerasfix sees, the fix; * marks the one edit repair
    # applies with --unsafe-fixes): docs/rules/KF601.md lists it.
    causes = (
        (
            "recurrent-without-return-sequences",
            "a recurrent, Conv1D, 1-D pooling, Bidirectional or TimeDistributed layer gets "
            "(samples, units) from an LSTM/GRU/SimpleRNN that returns its last step only",
            "`return_sequences=True` on that recurrent layer*",
        ),
        (
            "input-missing-channel-axis",
            "a Conv2D or 2-D pooling reads an Input declared `(28, 28)`",
            "`Input((28, 28, 1))` (channels first: `(1, 28, 28)`) and data with the axis*",
        ),
        (
            "input-missing-feature-axis",
            "a recurrent or Conv1D layer reads an Input declared `(steps,)`",
            "`Input((steps, 1))` and data with a feature axis*",
        ),
        (
            "window-larger-than-input",
            "a convolution or pooling receives less than its window (`Computed output size "
            "would be zero or negative`, `Negative dimension size`)",
            "`padding='same'` on that layer*, or one pooling fewer, or larger inputs",
        ),
        (
            "cropping-larger-than-input",
            "a Cropping layer removes more than the input holds",
            "crop less, or larger inputs",
        ),
        (
            "reshape-element-count",
            "a Reshape's `target_shape` holds another number of values than its input",
            "a target that holds the same values (kerasfix lists those one size away)",
        ),
        (
            "unknown-size-into-dense",
            "a Dense layer after a Flatten of a `None`-sized input",
            "GlobalAveragePooling instead of Flatten, or a fixed input size",
        ),
        (
            "layer-after-flattening",
            "a recurrent, convolutional or pooling layer after a Flatten, Dense or global "
            "pooling that left one vector per sample",
            "move the layer before it, or a Reshape between them",
        ),
        (
            "image-layer-on-sequences",
            "a Conv2D or 2-D pooling after an Embedding or another sequence layer",
            "the 1-D layer (Conv1D, MaxPooling1D)",
        ),
        (
            "1d-layer-on-images",
            "a Conv1D or 1-D pooling on images (`Kernel shape must have the same length as input`)",
            "the 2-D layer (Conv2D, MaxPooling2D)",
        ),
        (
            "3d-layer-on-images",
            "a Conv3D or 3-D pooling on images",
            "the 2-D layer, or data with a frames axis",
        ),
        (
            "recurrent-on-feature-maps",
            "an LSTM/GRU on convolution feature maps (samples, height, width, channels)",
            "`Reshape((height, width * channels))` or TimeDistributed convolutions",
        ),
        (
            "merge-of-different-sizes",
            "a Concatenate/Add joins a branch that pooled and upsampled an odd size (U-Net)",
            "input sizes that halve evenly at every pooling, or Cropping2D/ZeroPadding2D on "
            "the skip branch",
        ),
        (
            "merge-shape-mismatch",
            "a Concatenate, Add, Multiply or Dot joins branches of other lengths or units",
            "make the branches agree, or join on the axis where they differ",
        ),
        (
            "missing-axis-inside",
            "any other layer that gets fewer axes than it reads",
            "a Reshape before it, or a layer that keeps the axes",
        ),
        (
            "extra-axis-inside",
            "any other layer that gets more axes than it reads",
            "a Flatten or Reshape before it, or the layer of the matching rank",
        ),
        (
            "layer-cannot-take-input",
            "anything else Keras refuses while building",
            "Keras's own message, with the layer and the shapes it got",
        ),
    )
    code = "KF601"
    name = "layer-chain-break"
    severity = Severity.ERROR
    repair = "unsafe: one clear architecture edit (return_sequences, padding, channel axis)"
    applicability = Applicability.NONE
    trigger = "the architecture cannot be built: a layer cannot take what the one before gives"


@dataclass(frozen=True)
class ArchitectureEdit:
    """One edit of the saved config that repair may apply (model/patch.py applies it)."""

    kind: str  # "return_sequences", "padding_same", "channel_axis", "flatten_before"
    layer: str  # the layer it edits (for "channel_axis": the input)
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layer": self.layer,
            "params": self.params,
            "description": self.description,
        }


@dataclass(frozen=True)
class Cause:
    id: str
    why: str
    fix: str
    edit: ArchitectureEdit | None = None
    # Other plausible changes, in words, when no single edit is clearly right.
    candidates: tuple[str, ...] = ()


# --- layer families, by class name ----------------------------------------------------------

RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
# Layers that read (samples, steps, features).
SEQUENCE_LAYERS = RECURRENT - {"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"} | {
    "Conv1D",
    "SeparableConv1D",
    "DepthwiseConv1D",
    "Conv1DTranspose",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "Cropping1D",
    "ZeroPadding1D",
    "UpSampling1D",
    "LocallyConnected1D",
    "TimeDistributed",
    "Bidirectional",
}
# Layers that read (samples, height, width, channels).
IMAGE_LAYERS = frozenset(
    {
        "Conv2D",
        "SeparableConv2D",
        "DepthwiseConv2D",
        "Conv2DTranspose",
        "MaxPooling2D",
        "AveragePooling2D",
        "GlobalMaxPooling2D",
        "GlobalAveragePooling2D",
        "Cropping2D",
        "ZeroPadding2D",
        "UpSampling2D",
        "LocallyConnected2D",
        "ConvLSTM1D",
    }
)
VOLUME_LAYERS = frozenset(
    {
        "Conv3D",
        "Conv3DTranspose",
        "MaxPooling3D",
        "AveragePooling3D",
        "GlobalMaxPooling3D",
        "GlobalAveragePooling3D",
        "Cropping3D",
        "ZeroPadding3D",
        "UpSampling3D",
        "ConvLSTM2D",
    }
)
WINDOW_LAYERS = re.compile(r"^(Conv\dD|SeparableConv\dD|DepthwiseConv\dD|(Max|Average)Pooling\dD)$")
MERGE_LAYERS = frozenset(
    {"Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot"}
)
# Layers that hand on the shape they receive: the cause sits before them.
PASSTHROUGH = frozenset(
    {
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "Masking",
        "ActivityRegularization",
        "Rescaling",
        "Normalization",
        "Identity",
    }
)
FLATTENING = frozenset(
    {
        "Flatten",
        "Dense",
        "GlobalAveragePooling1D",
        "GlobalMaxPooling1D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling2D",
        "GlobalAveragePooling3D",
        "GlobalMaxPooling3D",
    }
)


def _family(node: LayerNode | None, class_name: str | None) -> str | None:
    name = class_name or (node.class_name if node else None)
    if name in ("Bidirectional", "TimeDistributed") and node and node.inner_class:
        inner = node.inner_class
        if name == "TimeDistributed":
            return "sequence"  # it reads (samples, steps, ...) whatever it wraps
        name = inner
    if name in SEQUENCE_LAYERS:
        return "sequence"
    if name in IMAGE_LAYERS:
        return "image"
    if name in VOLUME_LAYERS:
        return "volume"
    return None


NEEDED_NDIM = {"sequence": 3, "image": 4, "volume": 5}
FAMILY_SHAPE = {
    "sequence": "(samples, steps, features)",
    "image": "(samples, height, width, channels)",
    "volume": "(samples, frames, height, width, channels)",
}


def _first_inner_layer(graph: dict[str, LayerNode], model: str) -> LayerNode | None:
    """The first layer inside nested model `model` that reads its input."""
    for node in graph.values():
        if not node.path or node.path[-1] != model or node.class_name == "InputLayer":
            continue
        if all(p not in graph or graph[p].class_name == "InputLayer" for p in node.parents):
            return node
    return None


def _is_recurrent(node: LayerNode | None) -> bool:
    if node is None:
        return False
    if node.class_name == "Bidirectional":
        return node.inner_class in RECURRENT
    return node.class_name in RECURRENT


def _upstream(graph: dict[str, LayerNode], name: str | None) -> LayerNode | None:
    """The layer whose output reaches `name`, through layers that keep the shape."""
    node = graph.get(name) if name else None
    seen: set[str] = set()
    while node is not None and node.parents and node.name not in seen:
        seen.add(node.name)
        parent = graph.get(node.parents[0])
        # Random augmentations keep the shape too (RandomCrop aside, which changes sizes only).
        keeps = parent is not None and (
            parent.class_name in PASSTHROUGH
            or (parent.class_name.startswith("Random") and parent.class_name != "RandomCrop")
        )
        if parent is None or not keeps:
            return parent
        node = parent
    return None


def _needed_ndim(brk: LayerBreak, family: str | None) -> int | None:
    for key in ("ndim", "min_ndim"):
        value = brk.input_spec.get(key)
        if isinstance(value, int):
            return value
    match = re.search(r"expected (?:min_)?ndim=(\d+)", brk.message)
    if match:
        return int(match.group(1))
    if "at least 3 dimensions" in brk.message:
        return 3
    return NEEDED_NDIM.get(family) if family else None


def _returns_sequences(node: LayerNode) -> bool:
    config = node.config
    if node.class_name == "Bidirectional":
        inner = config.get("layer")
        config = inner.get("config", {}) if isinstance(inner, dict) else {}
    return bool(config.get("return_sequences"))


def _with_axis(shape: Shape, position: int) -> Shape:
    """`shape` (with its batch axis) with a size-1 axis added at `position` (-1: last)."""
    dims = list(shape)
    if position == -1:
        dims.append(1)
    else:
        dims.insert(position, 1)
    return tuple(dims)


def _data_format(node: LayerNode | None) -> str:
    value = node.config.get("data_format") if node else None
    return str(value) if value in ("channels_first", "channels_last") else "channels_last"


def explain_break(brk: LayerBreak, graph: dict[str, LayerNode], inputs: dict[str, Shape]) -> Cause:
    """The likely cause of a build break, from the layer graph and the shapes Keras saw."""
    node = graph.get(brk.name) if brk.name else None
    family = _family(node, brk.class_name)
    needed = _needed_ndim(brk, family)
    if family is None and node is not None and node.class_name in MODEL_CLASSES:
        # A nested model that cannot take what the outer layer gives: what it needs is what
        # its first layer reads.
        first = _first_inner_layer(graph, node.name)
        if first is not None:
            family = _family(first, first.class_name)
            needed = NEEDED_NDIM.get(family) if family else None
    received = brk.received[0] if brk.received else None
    got = len(received) if received is not None else None
    before = _upstream(graph, brk.name)
    before_desc = (
        f"'{before.name}' ({before.class_name})" if before is not None else "the layer before"
    )
    message = brk.message
    layer = f"'{brk.name}'"

    if brk.class_name in MERGE_LAYERS or "Concatenate" in message:
        return _merge_cause(brk, graph)
    if re.search(r"output size would be (zero or )?negative|Negative dimension size", message) or (
        brk.class_name or ""
    ).startswith("Cropping"):
        return _window_cause(brk, node)
    if brk.class_name == "Reshape" and "total size" in message:
        return _reshape_cause(brk)
    if (
        "fully-defined" in message
        or "last dimension of the inputs to a `Dense`" in message
        or (brk.class_name == "Dense" and received is not None and received[-1] is None)
    ):
        flatten = before is not None and before.class_name == "Flatten"
        return Cause(
            "unknown-size-into-dense",
            why=f"{before_desc if flatten else 'its input'} has no fixed size "
            f"({format_shape(received)}): a Dense layer needs a known last axis for its "
            "weights, and a Flatten of a None-sized input has none",
            fix="replace the Flatten with GlobalAveragePooling2D (or GlobalAveragePooling1D), "
            "which takes any size; or give the Input a fixed size",
            candidates=(
                f"GlobalAveragePooling instead of {before_desc}",
                "a fixed size in the model's Input",
            ),
        )
    if needed is not None and got is not None and family is not None:
        if got < needed:
            return _rank_too_low(brk, graph, family, needed, got, before, before_desc, inputs)
        if got > needed:
            return _rank_too_high(brk, family, needed, got, before_desc)
    if "Kernel shape must have the same length as input" in message and got is not None:
        conv_rank = len(re.findall(r"\d+", message.split("kernel of shape")[1].split(")")[0])) - 2
        return _rank_too_high(
            brk,
            "sequence" if conv_rank == 1 else family or "image",
            conv_rank + 2,
            got,
            before_desc,
        )
    if brk.class_name == "Dot" or "Incompatible input shapes" in message:
        return _merge_cause(brk, graph)
    return Cause(
        "layer-cannot-take-input",
        why=f"Keras cannot build {layer} on {', '.join(map(format_shape, brk.received))}: "
        + message.splitlines()[0],
        fix=f"change {layer} or the layers before it so that it receives the shape it needs",
    )


def _rank_too_low(
    brk: LayerBreak,
    graph: dict[str, LayerNode],
    family: str,
    needed: int,
    got: int,
    before: LayerNode | None,
    before_desc: str,
    inputs: dict[str, Shape],
) -> Cause:
    layer = f"'{brk.name}'"
    wants = FAMILY_SHAPE[family]
    if family == "sequence" and got == 2 and _is_recurrent(before) and before is not None:
        return Cause(
            "recurrent-without-return-sequences",
            why=f"{before_desc} returns only its last step, one vector per sample; {layer} "
            f"({brk.class_name}) reads a sequence {wants}",
            fix=f"return_sequences=True on '{before.name}', so that it hands every step on",
            edit=ArchitectureEdit(
                "return_sequences",
                before.name,
                {"return_sequences": True},
                f"return_sequences=True on '{before.name}'",
            ),
        )
    if family == "volume" and got == 4:
        return Cause(
            "3d-layer-on-images",
            why=f"{layer} ({brk.class_name}) reads volumes or clips {wants}; it receives "
            f"{format_shape(brk.received[0])}, images",
            fix=f"use the 2-D layer (Conv2D, MaxPooling2D, ...) for {layer} on images, or give "
            "data with a frames axis",
        )
    if before is not None and before.class_name == "InputLayer" and got == needed - 1:
        shape = inputs.get(before.name)
        position = 1 if _data_format(graph.get(brk.name or "")) == "channels_first" else -1
        if shape is not None:
            new = _with_axis(shape, position)
            what_axis = "channel" if family in ("image", "volume") else "feature"
            return Cause(
                f"input-missing-{what_axis}-axis",
                why=f"the Input declares {format_shape(shape)}, without a {what_axis} axis; "
                f"{layer} ({brk.class_name}) reads {wants}",
                fix=f"declare Input({format_shape(new[1:])}) and give data with a {what_axis} "
                "axis (np.expand_dims; kerasfix repair adds it)",
                edit=ArchitectureEdit(
                    "channel_axis",
                    before.name,
                    {"batch_shape": list(new), "position": position},
                    f"Input({format_shape(new[1:])}) for '{before.name}'",
                ),
            )
    if before is not None and before.class_name in FLATTENING:
        return Cause(
            "layer-after-flattening",
            why=f"{before_desc} gives one vector per sample; {layer} ({brk.class_name}) reads "
            f"{wants}",
            fix=f"move {layer} before {before_desc}, or put a Reshape to {wants} between them",
            candidates=(f"move {layer} before {before_desc}", f"Reshape to {wants}"),
        )
    if (
        family == "image"
        and got == 3
        and before is not None
        and (before.class_name == "Embedding" or _family(before, None) == "sequence")
    ):
        return Cause(
            "image-layer-on-sequences",
            why=f"{before_desc} gives sequences (samples, steps, features); {layer} "
            f"({brk.class_name}) reads images {wants}",
            fix=f"use the 1-D layer (Conv1D, MaxPooling1D, ...) for {layer}: it slides over "
            "the steps",
        )
    return Cause(
        "missing-axis-inside",
        why=f"{layer} ({brk.class_name}) reads {wants} (ndim={needed}); {before_desc} gives "
        f"ndim={got}, {format_shape(brk.received[0])}",
        fix=f"give {layer} {wants}: a Reshape before it, or a layer that keeps the axes",
    )


def _rank_too_high(brk: LayerBreak, family: str, needed: int, got: int, before_desc: str) -> Cause:
    layer = f"'{brk.name}'"
    received = format_shape(brk.received[0]) if brk.received else "?"
    if family == "sequence" and got == 4 and brk.class_name in RECURRENT | {"Bidirectional"}:
        return Cause(
            "recurrent-on-feature-maps",
            why=f"{before_desc} gives feature maps {received}, (height, width, channels) per "
            f"sample; {layer} ({brk.class_name}) reads (samples, steps, features)",
            fix="Reshape((height, width * channels)) before it to read rows as steps, or "
            "TimeDistributed around the convolutions",
            candidates=("Reshape((height, width * channels))", "TimeDistributed(Conv2D)"),
        )
    if family == "sequence":
        return Cause(
            "1d-layer-on-images",
            why=f"{layer} ({brk.class_name}) slides over one axis of (samples, steps, "
            f"channels); it receives {received}, images with height and width",
            fix=f"use the 2-D layer (Conv2D, MaxPooling2D, ...) for {layer} on images",
        )
    if family == "volume" and got == 4:
        return Cause(
            "3d-layer-on-images",
            why=f"{layer} ({brk.class_name}) reads volumes or clips (samples, frames, "
            f"height, width, channels); it receives {received}",
            fix="use the 2-D layer for images, or give data with a frames axis",
        )
    return Cause(
        "extra-axis-inside",
        why=f"{layer} ({brk.class_name}) reads ndim={needed}; {before_desc} gives ndim={got}, "
        f"{received}",
        fix=f"a Flatten or Reshape before {layer}, or the layer of the matching rank",
    )


def _window_cause(brk: LayerBreak, node: LayerNode | None) -> Cause:
    layer = f"'{brk.name}'"
    received = format_shape(brk.received[0]) if brk.received else "?"
    config = node.config if node is not None else {}
    if (brk.class_name or "").startswith("Cropping"):
        return Cause(
            "cropping-larger-than-input",
            why=f"{layer} crops {config.get('cropping')} from {received}, which leaves nothing",
            fix=f"crop less in {layer}, or give larger inputs",
        )
    edit = None
    if WINDOW_LAYERS.match(brk.class_name or "") and config.get("padding", "valid") == "valid":
        edit = ArchitectureEdit(
            "padding_same",
            str(brk.name),
            {"padding": "same"},
            f"padding='same' on {layer}",
        )
    window = config.get("pool_size") or config.get("kernel_size")
    return Cause(
        "window-larger-than-input",
        why=f"{layer} ({brk.class_name}, window {window}) receives {received}: the layers "
        "before it have shrunk the input below its window, so its output would have no size",
        fix=(f"padding='same' on {layer}" if edit else f"a smaller window on {layer}")
        + ", or one pooling fewer, or larger inputs",
        edit=edit,
        candidates=("one pooling fewer", "larger inputs"),
    )


def _reshape_cause(brk: LayerBreak) -> Cause:
    received = brk.received[0] if brk.received else None
    match = re.search(r"target_shape=\(([^)]*)\)", brk.message)
    target = tuple(int(d) for d in re.findall(r"-?\d+", match.group(1))) if match else ()
    have = math.prod(d for d in (received or ())[1:] if d is not None) if received else None
    want = math.prod(target) if target and -1 not in target else None
    candidates: list[str] = []
    if have and target:
        rest = [d for d in target if d != -1]
        for i, _ in enumerate(target):
            others = math.prod(d for j, d in enumerate(target) if j != i and d != -1)
            if -1 not in target and others and have % others == 0 and have // others > 0:
                fit = list(target)
                fit[i] = have // others
                candidates.append(format_shape(tuple(fit)))
        if not candidates and rest:
            candidates.append("a target_shape whose sizes multiply to " + str(have))
    return Cause(
        "reshape-element-count",
        why=f"'{brk.name}' reshapes {format_shape(received)} ({have} values per sample) to "
        f"{format_shape(target) if target else '?'}"
        + (f" ({want} values)" if want else "")
        + ": a reshape cannot change the number of values",
        fix="a target_shape that holds the same number of values"
        + (f": {' or '.join(candidates)}" if candidates else ""),
        candidates=tuple(candidates),
    )


def _merge_cause(brk: LayerBreak, graph: dict[str, LayerNode]) -> Cause:
    node = graph.get(brk.name) if brk.name else None
    branches = ", ".join(
        f"'{p}' {format_shape(s)}"
        for p, s in zip(node.parents if node else (), brk.received, strict=False)
    ) or ", ".join(map(format_shape, brk.received))
    spatial_differs = len({s[1:-1] for s in brk.received}) > 1 if brk.received else False
    pooled = any(
        n.class_name.startswith(("MaxPooling", "AveragePooling", "UpSampling"))
        for n in graph.values()
    )
    if spatial_differs and pooled:
        return Cause(
            "merge-of-different-sizes",
            why=f"'{brk.name}' ({brk.class_name}) joins branches of different sizes "
            f"({branches}): pooling rounds odd sizes down, so the branch that pooled and "
            "upsampled comes back smaller",
            fix="give inputs whose sizes halve evenly at every pooling, or crop/pad the skip "
            "branch (Cropping2D/ZeroPadding2D) to the other's size",
            candidates=("inputs of a size divisible by 2 per pooling", "Cropping2D on the skip"),
        )
    axis = node.config.get("axis", -1) if node else -1
    return Cause(
        "merge-shape-mismatch",
        why=f"'{brk.name}' ({brk.class_name}) joins {branches}: "
        + (
            f"a Concatenate needs the same sizes on every axis but the one it joins ({axis})"
            if brk.class_name == "Concatenate"
            else "its inputs must have the same shape"
        ),
        fix="make the branches agree (the same lengths or units), or join on the axis "
        "where they differ",
    )


# --- findings --------------------------------------------------------------------------------


def _what(brk: LayerBreak) -> str:
    received = ", ".join(map(format_shape, brk.received)) or "its inputs"
    needs = ""
    spec = brk.input_spec
    rank = len(brk.received[0]) if brk.received else None
    # The rank it needs, where the rank is what is wrong (not a size below a window).
    if "ndim" in spec and rank != spec["ndim"]:
        needs = f"; it needs ndim={spec['ndim']}"
    elif "min_ndim" in spec and (rank is None or rank < spec["min_ndim"]):
        needs = f"; it needs ndim>={spec['min_ndim']}"
    return f"{brk.where} cannot take {received}{needs}"


def confirmed(cause: Cause, edit_builds: bool | None) -> Cause:
    """The cause as offered: an edit Keras built and found breaking a later layer is listed as
    a candidate, never applied."""
    if cause.edit is None or edit_builds is not False:
        return cause
    return Cause(
        cause.id,
        cause.why,
        cause.fix + f" (Keras finds {cause.edit.description} alone breaks a later layer)",
        None,
        (*cause.candidates, cause.edit.description),
    )


def model_break_finding(
    outcome: BuildOutcome, graph: dict[str, LayerNode], edit_builds: bool | None = None
) -> Finding:
    """KF601 on the model: its architecture does not build for its declared inputs.
    `edit_builds`: whether Keras built the model with the cause's edit (None: not asked)."""
    assert outcome.broken is not None
    brk = outcome.broken
    cause = confirmed(explain_break(brk, graph, outcome.input_shapes), edit_builds)
    return _finding(brk, cause, f"Keras cannot build the model: {_what(brk)}", cause.fix, None)


def data_break_finding(
    outcome: BuildOutcome,
    graph: dict[str, LayerNode],
    data_shapes: dict[str, Shape],
    declared: dict[str, Shape],
    fits: dict[str, Shape] | None,
    edit_builds: bool | None = None,
) -> Finding:
    """KF601 on a data file: the model builds for its declared inputs, but not for the shape
    the data has. `fits`: the nearest larger data shapes Keras does build for, if found."""
    assert outcome.broken is not None
    brk = outcome.broken
    cause = confirmed(explain_break(brk, graph, outcome.input_shapes), edit_builds)
    shapes = ", ".join(
        f"{format_shape(s)} for input '{n}' (declared {format_shape(declared.get(n))})"
        for n, s in data_shapes.items()
    )
    what = f"with the data's shape {shapes}, {_what(brk)}"
    if fits:
        target = ", ".join(format_shape(s[1:]) for s in fits.values())
        data_fix = f"the data should change: samples of {target} (or larger) build"
    else:
        data_fix = "the data should change: samples of the sizes the model was built for"
    model_fix = f"or, if these sizes are what you train on, the model: {cause.fix}"
    return _finding(brk, cause, what, f"{data_fix}; {model_fix}", fits)


def _finding(
    brk: LayerBreak, cause: Cause, what: str, fix: str, fits: dict[str, Shape] | None
) -> Finding:
    details: dict[str, Any] = {
        "layer": brk.name,
        "class_name": brk.class_name,
        "path": list(brk.path),
        "cause": cause.id,
        "keras_message": brk.message,
        "candidates": list(cause.candidates),
    }
    if cause.edit is not None:
        details["edit"] = cause.edit.to_dict()
    if fits:
        details["fits"] = {n: list(s) for n, s in fits.items()}
    safety = "[unsafe: kerasfix repair --unsafe-fixes]" if cause.edit else "[no automatic fix]"
    return LayerChainBreak.finding(
        what=what,
        why=cause.why,
        fix=f"{fix} {safety}",
        applicability=Applicability.UNSAFE if cause.edit else Applicability.NONE,
        expected=brk.input_spec or None,
        received=[list(s) for s in brk.received],
        **details,
    )


def check_architecture_builds(ctx: ModelContext) -> Iterator[Finding]:
    build = ctx.build
    if build is None or build.outcome is None or build.outcome.broken is None:
        return
    yield model_break_finding(build.outcome, build.graph, build.edit_builds)


CHECKS = (Check(rules=(LayerChainBreak,), scope="model", run=check_architecture_builds),)
RULES = (LayerChainBreak,)
