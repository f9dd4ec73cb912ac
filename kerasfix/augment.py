"""Running augmentations (KF501-KF503): the user's `--augment FILE.py:FUNC` over seeded draws
of batches sampled from each data group, and the model's own augmentation layers in training
and inference mode.

`--augment` is the opt-in: the user's file is imported and its function called in this
process, and nothing of it runs without the flag. Keras's part (running the model on the
augmented batches, the model's own augmentation layers) runs in the run's Keras child process
(model/trace.py): a Keras that is missing, too old or dies is a note, never a dead run. The
model's layers are only ever built from its config in Keras's safe mode, never for a model
that holds code (KF003) unless `--trust-model`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import random
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from kerasfix.checks import CHECKS
from kerasfix.checks.kf5_augment import (
    AugmentContext,
    AugmentRun,
    Draw,
    LayerRecord,
    ModelAugmentContext,
)
from kerasfix.errors import DataReadError, UsageError
from kerasfix.findings import FileResult, Finding, Shape
from kerasfix.loaders.base import ArrayRef, DataFile
from kerasfix.loaders.chunks import iter_chunks
from kerasfix.loaders.images import ImageSurvey, read_regular
from kerasfix.loaders.keys import Group
from kerasfix.model.contract import ModelContract
from kerasfix.model.keras_child import KerasChild, KerasError, KerasUnavailable
from kerasfix.options import DiagnoseOptions

# Draws are seeded: draw i runs with seed AUGMENT_SEED + i (numpy, random and Keras).
AUGMENT_SEED = 0
DEFAULT_BATCH = 32
# Distinct augmented shapes traced with Keras per group: each costs one model call.
MAX_TRACED_SHAPES = 4
# An image file larger than this is not decoded for augmentation draws.
MAX_IMAGE_BYTES = 256 * 1024 * 1024

Array = np.ndarray[Any, Any]
Augmentation = Callable[[Any, Any], Any]


def check_spec(spec: str) -> tuple[str, str]:
    """(file, function) of `FILE.py:FUNC`, checked without importing anything: run before
    the data is read, so a typo costs no scan. A UsageError names what is wrong."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"--augment {spec!r}: expected FILE.py:FUNCTION")
    if not os.path.isfile(path):
        raise UsageError(f"--augment {spec}: no such file {path}")
    return path, name


def load_function(spec: str) -> Augmentation:
    """`FILE.py:FUNC` imported and looked up; a UsageError names what is wrong."""
    path, name = check_spec(spec)
    module_name = "kerasfix_augment_" + "".join(
        c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0]
    )
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise UsageError(f"--augment {spec}: {path} is not a Python file")
    module = importlib.util.module_from_spec(loader_spec)
    # Registered while it runs, as `import` does: @dataclass and pickling look the module up.
    sys.modules[module_name] = module
    try:
        with contextlib.redirect_stdout(sys.stderr):
            loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's module may raise anything on import
        sys.modules.pop(module_name, None)
        raise UsageError(f"--augment {spec}: importing {path} failed: {_one_line(exc)}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UsageError(f"--augment {spec}: {path} defines no function {name!r}")
    return function  # type: ignore[no-any-return]


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _seed(value: int) -> None:
    random.seed(value)
    np.random.seed(value)
    if "keras" in sys.modules:  # seed Keras's generators too when the function uses them
        sys.modules["keras"].utils.set_random_seed(value)


def _image_rows(survey: ImageSurvey, rows: int, channels: int) -> tuple[Array, Array]:
    """The first `rows` readable images, decoded and resized as image_dataset_from_directory
    would (bilinear, to --image-size), with their class indices."""
    from PIL import Image

    height, width = survey.image_size
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels, "RGB")
    pixels: list[Array] = []
    labels: list[int] = []
    for info in survey.images:
        if len(pixels) >= rows:
            break
        try:
            # Never through a link, never a non-regular file (read_regular), bounded.
            content = read_regular(os.path.join(survey.root, info.path), MAX_IMAGE_BYTES)
            with Image.open(io.BytesIO(content)) as image:
                converted = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
                array = np.asarray(converted, dtype=np.float32)
        except (DataReadError, OSError, ValueError, SyntaxError, EOFError, MemoryError):
            continue  # damaged data behind a good header, or the file changed since
        pixels.append(array.reshape(height, width, -1))
        labels.append(info.label)
    if not pixels:
        return np.empty((0, height, width, channels), np.float32), np.empty((0,), np.int32)
    return np.stack(pixels), np.asarray(labels, dtype=np.int32)


def _head(ref: ArrayRef, rows: int) -> Array:
    """The first `rows` rows of an array, read in chunks (the rest is never read)."""
    parts: list[Array] = []
    taken = 0
    for _, chunk in iter_chunks(ref):
        if chunk.ndim == 0:
            return np.array(chunk).reshape(1)
        parts.append(np.array(chunk[: rows - taken]))
        taken += len(parts[-1])
        if taken >= rows:
            break
    return np.concatenate(parts) if parts else np.empty((0, *ref.shape[1:]))


def _pool(
    group: Group, files: dict[str, DataFile], contract: ModelContract, rows: int
) -> tuple[dict[str, Array], Array | None] | None:
    """Rows to sample batches from: x per input name, and y (the first output's), or None
    when this group cannot be sampled (ragged token lists, non-numeric data)."""
    refs = list(group.x.values())
    if not refs or any(r.ragged or not r.is_numeric or not r.shape for r in refs):
        return None
    file = files.get(refs[0].path)
    if file is not None and file.survey is not None:
        name = next(iter(group.x))
        first = file.survey.data_format == "channels_first"
        pixels, classes = _image_rows(file.survey, rows, refs[0].shape[1 if first else -1])
        if first:  # image_dataset_from_directory(data_format="channels_first")
            pixels = np.ascontiguousarray(np.transpose(pixels, (0, 3, 1, 2)))
        if file.survey.label_mode == "categorical" and len(group.y):
            labels = next(iter(group.y.values()))
            if len(labels.shape) == 2:
                return {name: pixels}, np.eye(labels.shape[1], dtype=np.float32)[classes]
        return {name: pixels}, classes
    if file is not None and file.records is not None:
        # A TFRecord shard: encoded images are not decoded for this; flat lists take the
        # input's shape, as the parse spec gives it.
        from kerasfix.records import as_parsed

        if any(file.records.features[r.key or ""].is_images for r in refs):
            return None
        xs = {}
        for name, ref in group.x.items():
            inp = contract.input_named(name)
            head = _head(ref, rows)
            xs[name] = as_parsed(head, inp.sample_shape) if inp is not None else head
    else:
        xs = {name: _head(ref, rows) for name, ref in group.x.items()}
    y_ref = next(iter(group.y.values()), None)
    y: Array | None = None
    if y_ref is not None and y_ref.is_numeric and not y_ref.ragged and y_ref.shape:
        y = _head(y_ref, rows)
    return xs, y


def _shape(value: Any) -> Shape:
    return tuple(int(d) for d in np.shape(value))


def run_draws(
    function: Augmentation,
    label: str,
    contract: ModelContract,
    options: DiagnoseOptions,
    group: Group,
    files: dict[str, DataFile],
    child: KerasChild,
    notes: list[str],
) -> AugmentRun | None:
    batch = options.batch_size or DEFAULT_BATCH
    pool = _pool(group, files, contract, batch * 4)
    if pool is None:
        return None
    xs, y_all = pool
    available = min(len(x) for x in xs.values())
    if y_all is not None:
        available = min(available, len(y_all))
    if available == 0:
        return None
    size = min(batch, available)
    name = next(iter(xs))
    inp = contract.input_named(name) or contract.inputs[0]
    traceable = (
        options.trace_model
        and contract.format != "savedmodel"
        and (not contract.unsafe_layers or options.trust_model)
        # a multi-input model is traced on every input; a group missing one cannot be
        and (len(contract.inputs) == 1 or set(xs) == {i.name for i in contract.inputs})
    )
    traced: dict[Shape, str | None] = {}
    draws: list[Draw] = []
    for index in range(options.draws):
        seed = AUGMENT_SEED + index
        rows = np.random.default_rng(seed).choice(available, size=size, replace=False)
        rows.sort()
        x_batch: Any = {n: x[rows].copy() for n, x in xs.items()}
        if len(x_batch) == 1:
            x_batch = x_batch[name]
        y_batch = None if y_all is None else y_all[rows].copy()
        x_in = _shape(xs[name][rows])
        y_in = None if y_batch is None else _shape(y_batch)
        _seed(seed)
        try:
            # stdout carries the report alone: the user's prints go to stderr.
            with contextlib.redirect_stdout(sys.stderr):
                returned = function(x_batch, y_batch)
        except (Exception, SystemExit) as exc:  # the user's code: a finding, not a crash
            draws.append(Draw(index, x_in, y_in, error=_one_line(exc)))
            continue
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            kind = type(returned).__name__
            draws.append(Draw(index, x_in, y_in, error=f"returned a {kind}, not (x, y)"))
            continue
        x_out, y_out = returned
        others: dict[str, Any] = {}  # the other inputs, as returned (or as they were fed)
        if isinstance(x_out, dict):
            others = {n: v for n, v in x_out.items() if n != name}
            x_out = x_out.get(name)
        try:
            # np.asarray runs the user's code too (__array__, __len__, __getitem__).
            with contextlib.redirect_stdout(sys.stderr):
                x_array = np.asarray(x_out)
                y_array = None if y_out is None else np.asarray(y_out)
        except ValueError as exc:  # ragged lists: samples of different shapes in one batch
            draws.append(Draw(index, x_in, y_in, error=f"returned ragged data: {_one_line(exc)}"))
            continue
        except (Exception, SystemExit) as exc:
            error = f"returned values numpy cannot read: {_one_line(exc)}"
            draws.append(Draw(index, x_in, y_in, error=error))
            continue
        if x_array.dtype == object or (y_array is not None and y_array.dtype == object):
            draws.append(Draw(index, x_in, y_in, error="returned ragged data (an object array)"))
            continue
        if x_array.ndim == 0 or (y_array is not None and y_array.ndim == 0):
            which = "x" if x_array.ndim == 0 else "y"
            error = f"returned a scalar {which}, not a batch"
            draws.append(Draw(index, x_in, y_in, error=error))
            continue
        y_shape = None if y_array is None else _shape(y_array)
        x_shape = _shape(x_array)
        fit_error = None
        if traceable and len(x_shape) == inp.ndim and x_array.dtype.kind in "biuf":
            if x_shape[1:] not in traced and len(traced) < MAX_TRACED_SHAPES:
                from kerasfix.model import trace

                feed = _feed(x_array, name, xs, rows, others)
                try:
                    # The child keeps the directory it started in: the path goes absolute.
                    path = os.path.abspath(contract.path)
                    traced[x_shape[1:]] = child.call(trace.model_run_error, path, feed)
                except KerasUnavailable as exc:
                    _note(notes, f"the model was not run on the augmented batches: {exc.reason}")
                    traced[x_shape[1:]] = None
                except KerasError:  # Keras cannot rebuild this model: the static check stands
                    traced[x_shape[1:]] = None
            fit_error = traced.get(x_shape[1:])
        draws.append(Draw(index, x_in, y_in, x_shape, y_shape, fit_error=fit_error))
    return AugmentRun(label, inp, tuple(draws), AUGMENT_SEED)


def _as_fed(array: Array) -> Array:
    return array[:2].astype(np.float32) if array.dtype.kind == "f" else array[:2]


def _feed(
    x_array: Array, name: str, xs: dict[str, Array], rows: Array, others: dict[str, Any]
) -> Any:
    """What the model is traced on: the augmented input alone for a one-input model; for a
    multi-input model a dict of every input (the others as the function returned them, or
    as they were fed), so the trace fails only for what the augmentation did."""
    if len(xs) == 1:
        return _as_fed(x_array)
    feed: dict[str, Array] = {name: _as_fed(x_array)}
    for other, pool in xs.items():
        if other == name:
            continue
        value = others.get(other)
        try:
            array = np.asarray(value) if value is not None else pool[rows]
        except (Exception, SystemExit):  # the user's object: fall back to what was fed
            array = pool[rows]
        if array.dtype == object or array.ndim == 0:
            array = pool[rows]
        feed[other] = _as_fed(array)
    return feed


def _model_layers(contract: ModelContract, options: DiagnoseOptions) -> list[tuple[str, str]]:
    """The model's augmentation layers worth running: with --augment every Random* layer;
    without it only the layers that can change shapes (so diagnose stays light otherwise)."""
    if (
        not options.trace_model
        or contract.format == "savedmodel"
        or (contract.unsafe_layers and not options.trust_model)
    ):
        return []
    from kerasfix.model.patch import architecture, read_saved_config
    from kerasfix.model.trace import SHAPE_CHANGING_LAYERS, augmentation_layer_names

    try:
        layers = augmentation_layer_names(architecture(read_saved_config(contract.path)))
    except Exception:  # a config the contract reader accepted but this one cannot: skip
        return []
    if options.augment is None:
        layers = [(n, c) for n, c in layers if c in SHAPE_CHANGING_LAYERS]
    return layers


def wants_groups(contract: ModelContract, options: DiagnoseOptions) -> bool:
    """Whether check_augmentation has anything to run: --augment, or augmentation layers in
    the model that can change shapes. The run then keeps every group for it."""
    return options.augment is not None or bool(_model_layers(contract, options))


def _note(notes: list[str], what: str) -> None:
    note = f"Keras could not confirm KF501-KF503: {what}"
    if note not in notes:
        notes.append(note)


def check_augmentation(
    contract: ModelContract,
    options: DiagnoseOptions,
    groups: list[Group],
    files: dict[str, DataFile],
    child: KerasChild,
    notes: list[str],
) -> list[FileResult]:
    """Every KF501-KF503 finding of this run, as results to merge into the report: the user's
    augmentation per data group (on its x array), the model's own layers on the model. Keras
    runs in `child`; what it could not confirm is added to `notes`."""
    results: list[FileResult] = []
    if options.augment is not None:
        function = load_function(options.augment)
        label = os.path.basename(options.augment)
        for group in groups:
            if not group.x:
                continue
            run = run_draws(function, label, contract, options, group, files, child, notes)
            if run is None:
                continue
            ref = next(iter(group.x.values()))
            findings: list[Finding] = []
            for check in CHECKS:
                if check.scope == "augment":
                    findings.extend(check.run(AugmentContext(contract, options, run)))
            results.append(
                FileResult(
                    path=ref.path,
                    key=ref.key,
                    role="x",
                    input=next(iter(group.x)),
                    shape=ref.shape,
                    dtype=ref.dtype,
                    findings=findings,
                )
            )
    if _model_layers(contract, options):
        results.append(_model_result(contract, options, groups, child, notes))
    return results


def _model_result(
    contract: ModelContract,
    options: DiagnoseOptions,
    groups: list[Group],
    child: KerasChild,
    notes: list[str],
) -> FileResult:
    from kerasfix.model import trace

    shapes: dict[str, Shape] = {}
    for group in groups:
        for name, ref in group.x.items():
            if not ref.ragged and ref.shape:
                shapes.setdefault(name, ref.shape)
    result = FileResult(path=contract.path, role="model")
    try:
        modes = child.call(
            trace.augmentation_modes,
            os.path.abspath(contract.path),
            shapes,
            options.draws,
            AUGMENT_SEED,
        )
    except KerasUnavailable as exc:
        _note(notes, f"the model's augmentation layers were not run: {exc.reason}")
        return result
    except KerasError:  # Keras could not rebuild the model: nothing to compare
        return result
    ctx = ModelAugmentContext(
        contract,
        options,
        tuple(LayerRecord(m.layer, m.class_name, m.training, m.inference) for m in modes.layers),
        modes.training_error,
        modes.inference_error,
    )
    for check in CHECKS:
        if check.scope == "model_augment":
            result.findings.extend(check.run(ctx))
    return result
