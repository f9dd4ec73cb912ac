"""KF501-KF503: augmentations whose output shapes vary, no longer fit the model, or break the
pairing of x and y.

Pure: `kerasfix/augment.py` runs the draws (the user's `--augment` function, the model's own
augmentation layers through model/trace.py) and records what came out; these checks turn the
records into findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kerasfix.checks.base import Check, Rule
from kerasfix.findings import Applicability, Finding, Severity, Shape
from kerasfix.model.contract import InputSpec, ModelContract, format_shape
from kerasfix.options import DiagnoseOptions


@dataclass(frozen=True)
class Draw:
    """One call of the augmentation on one sampled batch."""

    index: int
    x_in: Shape
    y_in: Shape | None
    x_out: Shape | None = None
    y_out: Shape | None = None
    error: str | None = None  # the function raised, or returned something else than (x, y)
    fit_error: str | None = None  # Keras could not run the model on x_out


@dataclass(frozen=True)
class AugmentRun:
    """`--augment FILE.py:FUNC` over `draws` batches of one data group's x (and y)."""

    function: str
    input: InputSpec
    draws: tuple[Draw, ...]
    seed: int


@dataclass(frozen=True)
class AugmentContext:
    contract: ModelContract
    options: DiagnoseOptions
    run: AugmentRun


@dataclass(frozen=True)
class LayerRecord:
    """A model's augmentation layer: its output shape per training draw, and at inference."""

    layer: str
    class_name: str
    training: tuple[Shape | str, ...]
    inference: Shape | str


@dataclass(frozen=True)
class ModelAugmentContext:
    contract: ModelContract
    options: DiagnoseOptions
    layers: tuple[LayerRecord, ...]
    training_error: str | None
    inference_error: str | None


class UnstableAugmentationShape(Rule):
    """
    ## What it does
    Runs the augmentation over several seeded draws (`--augment FILE.py:FUNC`, `--draws N`;
    the model's own `Random*` layers in training mode) and reports output shapes that differ
    from draw to draw: random crops of random sizes, time shifts that drop a random number of
    steps.

    ## Why it matters
    A `tf.data` pipeline fails with `Cannot batch tensors with different shapes` on the first
    batch that differs, and a model with a fixed input fails on it; a model that accepts any
    size trains on a resolution that wanders.

    ## Example
    `x[:, :s, :s]` with `s = rng.integers(5, 9)`: draw 0 gives `(32, 7, 7, 3)`, draw 1
    `(32, 5, 5, 3)`.

    ## Fix safety
    No automatic fix: crop or pad to one fixed size after the random step (`RandomCrop(h, w)`
    does).
    """

    code = "KF501"
    name = "unstable-augmentation-shape"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "an augmentation yields different shapes across draws"


class AugmentationIncompatible(Rule):
    """
    ## What it does
    Reports augmented data that no longer fits the model: a shape the input does not take, a
    batch Keras cannot run the model on (traced with Keras), an augmentation function that
    raises (naming the draw), or a model augmentation layer that hands another shape to the
    next layer at inference than in training.

    ## Why it matters
    Training or evaluation stops at the first augmented batch, often after a long data
    pipeline has started; Keras's `RandomCrop` once returned uncropped images at inference,
    breaking the next layer only in `evaluate` and `predict` (keras-team/keras#21868).

    ## Example
    An augmentation that crops 8x8 images to 6x6 for a `(None, 8, 8, 1)` input; a model with
    `RandomCrop(6, 6)` on `(None, None, None, 3)` inputs that gives `(2, 8, 8, 3)` at inference.

    ## Fix safety
    No automatic fix: make the augmentation return the input's shape, and check that
    cropping layers crop in both modes (or resize before them).
    """

    code = "KF502"
    name = "augmentation-incompatible"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "augmented data no longer fits the next layer or the input"


class AugmentationMisalignment(Rule):
    """
    ## What it does
    Reports an augmentation that changes the number of samples in a batch, returns x and y
    with different sample counts, or changes the length of sequences while their per-step
    labels keep theirs (a time shift of x that leaves y as it was).

    ## Why it matters
    Keras fails with `Data cardinality is ambiguous` at best; at worst every label sits next
    to the wrong step and the model learns noise without an error.

    ## Example
    `x[:, 2:]` on `(32, 10, 3)` sequences with `(32, 10)` per-step labels: x has 8 steps, y 10.

    ## Fix safety
    No automatic fix: apply the same shift or crop to y, or drop the same samples from both.
    """

    code = "KF503"
    name = "augmentation-misalignment"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "an augmentation changes the sample count or breaks the x/y pairing"


def _fits(shape: Shape, spec: Shape) -> bool:
    return len(shape) == len(spec) and all(
        s is None or s == d for d, s in zip(shape, spec, strict=True)
    )


def _draws(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:5])
    return f"draw{'s' if len(indices) > 1 else ''} {shown}" + (
        f" and {len(indices) - 5} more" if len(indices) > 5 else ""
    )


def check_user_augmentation(ctx: AugmentContext) -> Iterator[Finding]:
    run, inp = ctx.run, ctx.run.input
    total = len(run.draws)
    failed = [d for d in run.draws if d.error is not None]
    if failed:
        first = failed[0]
        yield AugmentationIncompatible.finding(
            what=f"{run.function} failed on draw {first.index} of {total} "
            f"(seed {run.seed + first.index}, batch {format_shape(first.x_in)}): {first.error}"
            + (f"; {len(failed)} of {total} draws failed" if len(failed) > 1 else ""),
            why="training stops at the first batch the augmentation cannot handle",
            fix=f"fix {run.function} for this data; rerun kerasfix diagnose --augment to check "
            "[no automatic fix]",
            received={"draw": first.index, "error": first.error},
            draws=[d.index for d in failed],
        )
    done = [d for d in run.draws if d.x_out is not None]
    if not done:
        return
    x_shapes: dict[Shape, list[int]] = {}
    y_shapes: dict[Shape, list[int]] = {}
    for draw in done:
        assert draw.x_out is not None
        x_shapes.setdefault(draw.x_out[1:], []).append(draw.index)
        if draw.y_out is not None:
            y_shapes.setdefault(draw.y_out[1:], []).append(draw.index)
    for name, shapes in (("x", x_shapes), ("y", y_shapes)):
        if len(shapes) > 1:
            listed = "; ".join(
                f"{format_shape(s)} in {_draws(i)}" for s, i in sorted(shapes.items(), key=str)
            )
            yield UnstableAugmentationShape.finding(
                what=f"{run.function} gives {name} samples of {len(shapes)} shapes over "
                f"{len(done)} draws: {listed}",
                why="batches of different shapes cannot be stacked (`Cannot batch tensors with "
                "different shapes`), and a fixed input takes only one",
                fix="crop or pad to one fixed size after the random step [no automatic fix]",
                received={format_shape(s): i for s, i in shapes.items()},
                array=name,
            )
    static = [d for d in done if d.x_out is not None and not _fits(d.x_out[1:], inp.sample_shape)]
    traced = [d for d in done if d.fit_error is not None and d not in static]
    if static:
        first = static[0]
        assert first.x_out is not None
        yield AugmentationIncompatible.finding(
            what=f"{run.function} gives x of shape {format_shape(first.x_out)} "
            f"({_draws([d.index for d in static])}); input '{inp.name}' takes "
            f"{format_shape(inp.batch_shape)}",
            why="the augmented batch no longer fits the model's input, so training stops at "
            "the first augmented batch",
            fix="make the augmentation return the input's shape (crop, pad or resize to it) "
            "[no automatic fix]",
            expected=list(inp.batch_shape),
            received=list(first.x_out),
        )
    elif traced:
        first = traced[0]
        assert first.x_out is not None
        yield AugmentationIncompatible.finding(
            what=f"{run.function} gives x of shape {format_shape(first.x_out)} "
            f"({_draws([d.index for d in traced])}), which input '{inp.name}' takes, but Keras "
            f"cannot run the model on it: {first.fit_error}",
            why="a layer after the input was built for other shapes (Flatten -> Dense, Reshape)",
            fix="make the augmentation return the shape the model was built for [no automatic fix]",
            expected=list(inp.batch_shape),
            received=list(first.x_out),
        )
    yield from _misalignment(run, done, _time_output(ctx.contract))


def _time_output(contract: ModelContract) -> bool:
    """Whether the model's output may have a time axis (rank >= 3, or not known): only then
    are (N, T) labels for (N, T, F) sequences per-step labels rather than one-hot classes."""
    shapes = [o.shape for o in contract.outputs]
    return not shapes or any(s is None or len(s) >= 3 for s in shapes)


def _per_step(draw: Draw, time_output: bool) -> bool:
    """Per-step labels: y shares x's time axis and is not one-hot classes that happen to be
    as many as the steps (images (N, 8, 8, 3) with one-hot (N, 8) are not sequences)."""
    x_in, y_in = draw.x_in, draw.y_in
    if y_in is None or len(x_in) < 3 or len(y_in) < 2 or x_in[1] != y_in[1]:
        return False
    return len(y_in) >= 3 or (len(x_in) == 3 and time_output)


def _misalignment(run: AugmentRun, done: list[Draw], time_output: bool) -> Iterator[Finding]:
    count = [d for d in done if d.x_out is not None and d.x_out[:1] != d.x_in[:1]]
    pairs = [
        d
        for d in done
        if d.x_out is not None and d.y_out is not None and d.x_out[:1] != d.y_out[:1]
    ]
    steps = [
        d
        for d in done
        if d.x_out is not None
        and d.y_out is not None
        and _per_step(d, time_output)
        and (len(d.x_out) < 2 or len(d.y_out) < 2 or d.x_out[1] != d.y_out[1])
    ]
    for kind, found in (("count", count), ("pairs", pairs), ("steps", steps)):
        if not found:
            continue
        first = found[0]
        assert first.x_out is not None
        if kind == "count":
            what = (
                f"{run.function} turns a batch of {first.x_in[0]} samples into "
                f"{first.x_out[0]} ({_draws([d.index for d in found])})"
            )
        elif kind == "pairs":
            assert first.y_out is not None
            what = (
                f"{run.function} returns {first.x_out[0]} x samples and {first.y_out[0]} "
                f"labels ({_draws([d.index for d in found])})"
            )
        else:
            assert first.y_in is not None and first.y_out is not None
            what = (
                f"{run.function} changes the sequences from {first.x_in[1]} to "
                f"{first.x_out[1] if len(first.x_out) > 1 else '?'} steps while their per-step "
                f"labels keep {first.y_out[1] if len(first.y_out) > 1 else '?'} "
                f"(x {format_shape(first.x_out)}, y {format_shape(first.y_out)}; "
                f"{_draws([d.index for d in found])})"
            )
        yield AugmentationMisalignment.finding(
            what=what,
            why="each label must stay with its sample (and each step label with its step); "
            "otherwise Keras fails on the counts or the model learns from mismatched pairs",
            fix="apply the same shift, crop or sample selection to x and y [no automatic fix]",
            received={
                "x": list(first.x_out),
                "y": None if first.y_out is None else list(first.y_out),
            },
            kind=kind,
        )
        return


def check_model_augmentation(ctx: ModelAugmentContext) -> Iterator[Finding]:
    for layer in ctx.layers:
        training = {s for s in layer.training if not isinstance(s, str)}
        if len(training) > 1:
            listed = ", ".join(format_shape(s) for s in sorted(training, key=str))
            yield UnstableAugmentationShape.finding(
                what=f"the model's {layer.class_name} '{layer.layer}' gives {len(training)} "
                f"shapes over {len(layer.training)} training draws: {listed}",
                why="the layers after it receive a different shape from batch to batch",
                fix="give the layer a fixed output size, or resize after it [no automatic fix]",
                received=[list(s) for s in sorted(training, key=str)],
                layer=layer.layer,
            )
        inference = layer.inference
        if isinstance(inference, str):
            continue
        if training and all(s != inference for s in training):
            shown = format_shape(sorted(training, key=str)[0])
            yield AugmentationIncompatible.finding(
                what=f"the model's {layer.class_name} '{layer.layer}' hands {shown} to the "
                f"next layer in training and {format_shape(inference)} at inference",
                why="the layers after it see one shape in fit and another in evaluate/predict "
                "(keras-team/keras#21868: RandomCrop returned uncropped images at inference)",
                fix="resize or center-crop to the training size before this layer, or fix the "
                "input size [no automatic fix]",
                expected=list(sorted(training, key=str)[0]),
                received=list(inference),
                layer=layer.layer,
            )
    for mode, error in (("training", ctx.training_error), ("inference", ctx.inference_error)):
        if error is not None:
            yield AugmentationIncompatible.finding(
                what=f"Keras cannot run the model in {mode} mode on a batch of the data's "
                f"shape: {error}",
                why=f"{'fit' if mode == 'training' else 'evaluate and predict'} will fail "
                "the same way",
                fix="make the augmentation layers give the same shape in both modes "
                "[no automatic fix]",
                mode=mode,
            )


CHECKS = (
    Check(
        rules=(UnstableAugmentationShape, AugmentationIncompatible, AugmentationMisalignment),
        scope="augment",
        run=check_user_augmentation,
    ),
    Check(
        rules=(UnstableAugmentationShape, AugmentationIncompatible),
        scope="model_augment",
        run=check_model_augmentation,
    ),
)
RULES = (UnstableAugmentationShape, AugmentationIncompatible, AugmentationMisalignment)
