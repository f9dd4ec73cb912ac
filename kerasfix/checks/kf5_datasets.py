"""KF504/KF505: dataset folders whose samples differ in size or channels, or cannot be read.

Pure: they read the header survey an image-class folder was loaded with
(`loaders.images.ImageSurvey`), never the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kerasfix.checks.base import Check, Rule
from kerasfix.checks.kf2_values import CATEGORICAL_LOSSES
from kerasfix.findings import Applicability, Finding, Severity
from kerasfix.loaders.base import DataFile
from kerasfix.loaders.images import EXAMPLES, MODE_NAMES, ImageLoading, ImageSurvey
from kerasfix.model.contract import ModelContract, format_shape
from kerasfix.options import DiagnoseOptions


@dataclass(frozen=True)
class DatasetContext:
    """A dataset folder (one unit of data) and the model it feeds."""

    contract: ModelContract
    options: DiagnoseOptions
    file: DataFile


class MixedSampleShapes(Rule):
    """
    ## What it does
    Reports an image-class folder whose images differ in size or in channels (a grayscale or
    RGBA image among RGB ones), read from the image headers, in one short line: the counts,
    the range of sizes and a few of the images to convert; the JSON report lists every one
    (`details.images`).
    Encoded images in a TFRecord `bytes` feature that differ in size or channels are KF504
    too, naming example records (no automatic fix there: resize where the records are parsed).

    ## Why it matters
    `keras.utils.image_dataset_from_directory` converts every image to its `color_mode` and
    resizes it to `image_size`, so it trains, but odd images are distorted or lose alpha
    without a word. Any loader that stacks decoded images without resizing (`load_img` plus
    `np.stack`, a `tf.data` pipeline that batches before resizing) fails mid-epoch with
    `Cannot batch tensors with different shapes`, on the first batch that holds the odd one.

    ## Example
    `train/cat/0042.png` is grayscale 300x200 among 256x256 RGB JPEGs.

    ## Fix safety
    Unsafe: `kerasfix repair --unsafe-fixes` converts channels and resizes the odd images
    into `--out DIR`, keeping the folder layout; resizing and dropping alpha change pixels.
    They are resized to the size training loads them at: `--image-size` when given, else
    the model's own input size (the folder's most common size where the model takes any);
    channels to the folder's most common mode.
    """

    code = "KF504"
    name = "mixed-sample-shapes"
    severity = Severity.WARNING
    repair = "unsafe: convert channels, resize"
    applicability = Applicability.UNSAFE
    trigger = "a dataset folder mixes sample sizes or channel counts"


class UnreadableSample(Rule):
    """
    ## What it does
    Reports files in an image-class folder that have an image extension Keras indexes
    (`.bmp .gif .jpeg .jpg .png`) but are not images, are empty, declare too many pixels, or
    are truncated (the file does not end with its format's end marker). Headers are read,
    pixels are not: damage inside the compressed data is not seen.
    In a TFRecord `bytes` feature of images, a record whose value is not an image, or a
    truncated one, is KF505 naming the record.

    ## Why it matters
    `image_dataset_from_directory` lists the file and fails the whole run when the batch that
    holds it is decoded (`Unknown image file format`, `Invalid JPEG data`); Keras has no
    option to skip bad files.

    ## Example
    `train/dog/17.jpg` was cut off by an interrupted download.

    ## Fix safety
    No automatic fix: re-download or re-export the file, or delete it.
    """

    code = "KF505"
    name = "unreadable-sample"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "a sample file in a dataset folder is corrupt or not an image"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _mode(channels: int) -> str:
    return MODE_NAMES.get(channels, f"{channels}-channel")


def _size(size: tuple[int, int]) -> str:
    height, width = size
    return f"{width}x{height}"


def target_of(
    found: ImageSurvey, image_size: tuple[int, int] | None = None
) -> tuple[tuple[int, int], int]:
    """The size (height, width) and channels the odd images are made to match: the size the
    model is loaded at (`image_size`: --image-size, else the model's own input size) where
    one is known, else the folder's most common; the folder's most common channel mode (RGB
    on a tie). Matching the model's channels is the loader's job (color_mode: KF107)."""
    sizes, modes = found.sizes(), found.modes()
    if image_size is not None:
        height, width = image_size
    else:
        height, width = max(sizes, key=lambda s: (sizes[s], s)) if sizes else found.image_size
    channels = max(modes, key=lambda c: (modes[c], c == 3)) if modes else 3
    return (int(height), int(width)), int(channels)


CHANNEL_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def model_image_loading(
    contract: ModelContract, options: DiagnoseOptions
) -> tuple[ImageLoading, str | None]:
    """How an image-class folder is read for this model: what --image-size/--color-mode say,
    and where they are not given, the model's own input size, channels and layout (what a
    pipeline that trains this model must pass to image_dataset_from_directory), and one-hot
    labels for a categorical loss. The note says what was assumed (None: nothing)."""
    if len(contract.inputs) != 1 or len(contract.inputs[0].batch_shape) != 4:
        return ImageLoading(options.image_size, options.color_mode), None
    inp = contract.inputs[0]
    first = inp.data_format == "channels_first"
    channels = inp.batch_shape[1] if first else inp.batch_shape[3]
    height, width = inp.batch_shape[2:4] if first else inp.batch_shape[1:3]
    assumed: list[str] = []
    size = options.image_size
    if size is None and height is not None and width is not None:
        size = (height, width)
        assumed.append(f"image_size=({height}, {width})")
    mode = options.color_mode
    if mode is None and channels in CHANNEL_MODES:
        mode = CHANNEL_MODES[channels]
        assumed.append(f"color_mode={mode!r}")
    data_format = "channels_first" if first else None
    if first:
        assumed.append("data_format='channels_first'")
    outputs = contract.outputs
    loss = outputs[0].loss if len(outputs) == 1 else None
    label_mode = None
    if loss is not None and loss.name in CATEGORICAL_LOSSES:
        label_mode = "categorical"
        assumed.append("label_mode='categorical'")
    loading = ImageLoading(size, mode, data_format, label_mode)
    if not assumed:
        return loading, None
    missing = [
        flag
        for flag, given in (
            ("--image-size", options.image_size),
            ("--color-mode", options.color_mode),
        )
        if given is None
    ]
    labels = f", and its loss {loss.name} one-hot labels" if label_mode and loss else ""
    note = (
        f"read as image_dataset_from_directory(..., {', '.join(assumed)}) yields it: the "
        f"model's input '{inp.name}' takes {format_shape(inp.batch_shape)}{labels}, so a "
        "pipeline that trains it must load it so"
        + (f" ({' and '.join(missing)} not given)" if missing else "")
    )
    return loading, note


def for_image_folder(finding: Finding, options: DiagnoseOptions) -> Finding:
    """A size or channel mismatch of an image folder is fixed where it is loaded: say how."""
    import dataclasses

    if finding.code == "KF106":
        want = [d for d in finding.expected[1:3]]
        declared = "--image-size" if options.image_size else "the default image_size=(256, 256)"
        fix = (
            f"load with image_dataset_from_directory(..., image_size=({want[0]}, {want[1]})) and "
            f"check with --image-size {want[0]}x{want[1]} (this run used {declared}) [unsafe]"
        )
        return dataclasses.replace(finding, fix=fix)
    if finding.code == "KF107":
        want = finding.expected[-1]
        mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(want)
        if mode is not None:
            used = options.color_mode or "rgb (the default)"
            fix = (
                f"load with image_dataset_from_directory(..., color_mode={mode!r}) and check with "
                f"--color-mode {mode} (this run used {used}) [unsafe]"
            )
            return dataclasses.replace(finding, fix=fix, applicability=Applicability.UNSAFE)
    return finding


def check_mixed_shapes(ctx: DatasetContext) -> Iterator[Finding]:
    found: ImageSurvey | None = ctx.file.survey
    if found is None or not found.images:
        return
    sizes, modes = found.sizes(), found.modes()
    if len(sizes) < 2 and len(modes) < 2:
        return
    loading, _ = model_image_loading(ctx.contract, ctx.options)
    (height, width), channels = target_of(found, loading.image_size)
    # The text is one short line (counts, the range of sizes, a few files); every odd image
    # is listed in the JSON report's details.
    parts: list[str] = []
    odd = [
        image
        for image in found.images
        if (image.height, image.width) != (height, width)
        or (len(modes) > 1 and image.channels != channels)
    ]
    if len(sizes) > 1:
        by_area = sorted(sizes, key=lambda s: (s[0] * s[1], s))
        span = f"{_size(by_area[0])} to {_size(by_area[-1])}"
        parts.append(f"{len(sizes)} sizes ({span})")
    if len(modes) > 1:
        listed = ", ".join(
            f"{modes[c]} {_mode(c)}" for c in sorted(modes, key=lambda c: (-modes[c], c))
        )
        parts.append(f"{len(modes)} channel modes ({listed})")
    examples: dict[str, list[str]] = {}
    for image in odd:
        resized = (image.height, image.width) != (height, width)
        kind = _size((image.height, image.width)) if resized else _mode(image.channels)
        shown_for = examples.setdefault(kind, [])
        if len(shown_for) < EXAMPLES:
            shown_for.append(image.path)
    shown = ", ".join(image.path for image in odd[:EXAMPLES])
    more = f" and {len(odd) - EXAMPLES} more" if len(odd) > EXAMPLES else ""
    yield MixedSampleShapes.finding(
        what=f"{_plural(len(found.images), 'image')} in {len(found.class_names)} class folders "
        f"mix {' and '.join(parts)}; {_plural(len(odd), 'image')} to convert to "
        f"{_size((height, width))} {_mode(channels)}, e.g. {shown}{more}",
        why="image_dataset_from_directory converts and resizes them silently; a loader that "
        "stacks decoded images without resizing fails on the first batch holding an odd one",
        fix=f"convert and resize the odd images to {width}x{height} "
        f"{_mode(channels)}: kerasfix repair --unsafe-fixes "
        "--out DIR [unsafe]",
        expected={"size": [height, width], "channels": channels},
        received={
            "sizes": {_size(s): n for s, n in sorted(sizes.items())},
            "channels": {str(c): n for c, n in sorted(modes.items())},
        },
        examples=examples,
        images=[
            {"path": i.path, "size": _size((i.height, i.width)), "channels": i.channels}
            for i in odd
        ],
        target={"size": [height, width], "channels": channels},
    )


def check_unreadable_samples(ctx: DatasetContext) -> Iterator[Finding]:
    found: ImageSurvey | None = ctx.file.survey
    if found is None or not found.unreadable:
        return
    shown = "; ".join(f"{path}: {reason}" for path, reason in found.unreadable[:EXAMPLES])
    more = len(found.unreadable) - EXAMPLES
    yield UnreadableSample.finding(
        what=f"{_plural(len(found.unreadable), 'file')} of "
        f"{len(found.unreadable) + len(found.images)} cannot be read as an image: {shown}"
        + (f"; and {more} more" if more > 0 else ""),
        why="image_dataset_from_directory lists every file and fails the whole run when the "
        "batch holding a bad one is decoded",
        fix="re-export or re-download these files, or delete them [no automatic fix]",
        received=[path for path, _ in found.unreadable],
        reasons=dict(found.unreadable[:100]),
    )


CHECKS = (
    Check(rules=(MixedSampleShapes,), scope="dataset", run=check_mixed_shapes),
    Check(rules=(UnreadableSample,), scope="dataset", run=check_unreadable_samples),
)
RULES = (MixedSampleShapes, UnreadableSample)
