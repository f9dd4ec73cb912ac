"""`--verify-fit`: one real training step on the repaired data, on the CPU.

The data is read here; the step runs in the run's Keras child process (`train_step`), so a
TensorFlow that aborts, or a Keras missing or below the security floor, is a skipped check
with its reason, never a dead repair. The model is loaded with Keras's safe mode; a model
holding code (KF003) is refused unless --trust-model.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from kerasfix.api import Diagnosis
from kerasfix.errors import DataReadError, UsageError
from kerasfix.loaders import DataFile, read_data_file
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.chunks import iter_chunks
from kerasfix.loaders.images import COLOR_MODES, ImageSurvey
from kerasfix.loaders.ragged import iter_sequences
from kerasfix.model.architecture import keras_error_line
from kerasfix.model.keras_child import raise_if_resource
from kerasfix.records import as_parsed
from kerasfix.repair.plan import RepairPlan

MAX_ROWS = 32


def _head(ref: ArrayRef, rows: int) -> np.ndarray[Any, Any] | None:
    """The first rows of an array; token lists only when they all have one length."""
    if ref.ragged:
        sequences: list[np.ndarray[Any, Any]] = []
        for _, chunk in iter_sequences(ref):
            sequences.extend(chunk[: rows - len(sequences)])
            if len(sequences) >= rows:
                break
        if len({len(s) for s in sequences}) != 1:
            return None
        return np.stack(sequences)
    parts: list[np.ndarray[Any, Any]] = []
    got = 0
    for _, block in iter_chunks(ref):
        parts.append(np.array(block[: rows - got]))
        got += len(parts[-1])
        if got >= rows:
            break
    return np.concatenate(parts) if parts else np.zeros((0,))


def data_batch(diagnosis: Diagnosis, plan: RepairPlan) -> tuple[Any, Any]:
    """The first rows of the first group's inputs and labels, as repaired (None where the run
    has no such data): an array for one input or output, else a dict by name."""
    group = next((g for g in diagnosis.groups if g.x), None)
    if group is None:
        return None, None
    written = {f.path: os.path.join(plan.out_dir, f.output) for f in plan.files if f.actions}

    def current(ref: ArrayRef) -> ArrayRef:
        if ref.path not in written:
            return ref
        return read_data_file(written[ref.path]).arrays[ref.key or ""]

    def heads(refs: dict[str, ArrayRef]) -> Any:
        if not refs:
            return None
        rows = min(MAX_ROWS, *(r.shape[0] for r in refs.values()))
        found = {name: _head(current(ref), rows) for name, ref in refs.items()}
        if any(v is None for v in found.values()):
            return None
        return next(iter(found.values())) if len(found) == 1 else found

    return heads(group.x), heads(group.y)


def _image_survey(diagnosis: Diagnosis, group: Any) -> ImageSurvey | None:
    ref = next(iter(group.x.values()))
    file = diagnosis.files.get(ref.path)
    return None if file is None else file.survey


def _image_batch(
    keras: Any,
    folder: str,
    label_mode: str,
    color_mode: str,
    image_size: tuple[int, int],
    data_format: str,
    rows: int,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The first batch of an image-class folder, read by Keras as diagnose read it."""
    dataset = keras.utils.image_dataset_from_directory(
        folder,
        label_mode=label_mode,
        color_mode=color_mode,
        image_size=image_size,
        batch_size=rows,
        shuffle=False,
        data_format=data_format,
        verbose=False,
    )
    pixels, labels = next(iter(dataset))
    return np.asarray(pixels), np.asarray(labels)


def verify_fit(
    model_path: str, diagnosis: Diagnosis, plan: RepairPlan, trust_model: bool
) -> dict[str, Any]:
    contract = diagnosis.contract
    if contract.format == "savedmodel":
        raise UsageError("--verify-fit needs a Keras model; a SavedModel cannot be trained")
    if contract.format == "json":
        return {"status": "skipped", "reason": "an architecture .json has no weights or loss"}
    if contract.unsafe_layers and not trust_model:
        raise UsageError(
            f"{model_path}: --verify-fit would run code the model holds "
            f"({contract.unsafe_layers[0].class_name}); pass --trust-model if you trust it"
        )
    written = {f.path: os.path.join(plan.out_dir, f.output) for f in plan.files if f.actions}
    outputs: dict[str, DataFile] = {}

    def current(ref: ArrayRef) -> ArrayRef:
        if ref.path not in written:
            return ref
        if written[ref.path] not in outputs:
            outputs[written[ref.path]] = read_data_file(written[ref.path])
        return outputs[written[ref.path]].arrays[ref.key or ""]

    group = next((g for g in diagnosis.groups if g.x and g.y), None)
    if group is None:
        return {"status": "skipped", "reason": "no data file pairs inputs with labels"}
    survey = _image_survey(diagnosis, group)
    x: dict[str, np.ndarray[Any, Any]] = {}
    y: dict[str, np.ndarray[Any, Any]] = {}
    if survey is None:
        xs = {name: current(ref) for name, ref in group.x.items()}
        ys = {name: current(ref) for name, ref in group.y.items()}
        rows = contract.fixed_batch_size or min(MAX_ROWS, *(r.shape[0] for r in xs.values()))
        try:
            heads = {("x", n): _head(r, rows) for n, r in xs.items()} | {
                ("y", n): _head(r, rows) for n, r in ys.items()
            }
        except DataReadError as exc:  # encoded images in TFRecord features are never decoded
            return {"status": "skipped", "reason": exc.reason}
        for (side, name), head in heads.items():
            inp = contract.input_named(name) if side == "x" else None
            if head is not None and inp is not None:
                # A TFRecord list is a flat sample: the parse spec gives it the input's shape.
                heads[(side, name)] = as_parsed(head, inp.sample_shape)
        if any(h is None for h in heads.values()):
            return {
                "status": "skipped",
                "reason": "the data still holds sequences of several lengths",
            }
        x = {n: h for (side, n), h in heads.items() if side == "x" and h is not None}
        y = {n: h for (side, n), h in heads.items() if side == "y" and h is not None}

    image: dict[str, Any] | None = None
    if survey is not None:
        # An image-class folder (the repaired one, where it was written): its first batch as
        # image_dataset_from_directory yields it, with the arguments diagnose read it with.
        x_ref = next(iter(group.x.values()))
        first = survey.data_format == "channels_first"
        channels = x_ref.shape[1] if first else x_ref.shape[-1]
        modes = {count: mode for mode, count in COLOR_MODES.items()}
        folder = written.get(survey.root, survey.root)
        if channels not in modes:
            return {
                "status": "fail",
                "error": f"the image folder {folder} does not load as the model needs it: "
                f"no color_mode decodes images to {channels} channels",
            }
        image = {
            # The Keras child keeps the directory it started in: the path goes absolute.
            "folder": os.path.abspath(folder),
            "shown": folder,
            "label_mode": survey.label_mode,
            "color_mode": modes[channels],
            "image_size": tuple(survey.image_size),
            "data_format": survey.data_format,
            "rows": contract.fixed_batch_size or MAX_ROWS,
            "x": next(iter(group.x)),
            "y": next(iter(group.y)),
        }
        rows = 0
    from kerasfix.model.keras_child import KerasError, KerasUnavailable, shared_child

    try:
        result: dict[str, Any] = shared_child().call(
            train_step, os.path.abspath(model_path), x, y, image, trust_model, rows
        )
    except KerasUnavailable as exc:
        return {
            "status": "skipped",
            "reason": f"Keras could not confirm that the model trains on it: {exc.reason}",
        }
    except KerasError as exc:  # a kerasfix bug in the child: said, not a dead repair
        return {"status": "fail", "error": f"the training step could not run ({exc})"}
    return result


def train_step(
    model_path: str,
    x: dict[str, np.ndarray[Any, Any]],
    y: dict[str, np.ndarray[Any, Any]],
    image: dict[str, Any] | None,
    trust_model: bool,
    rows: int,
) -> dict[str, Any]:
    """One training step of the saved model on x and y (or on an image folder's first
    batch); runs in the Keras child process. Every Keras failure is an answer in words."""
    from kerasfix.model.keras_child import require_keras

    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the check runs on the CPU, as documented
    keras = require_keras()
    if image is not None:
        try:
            pixels, labels = _image_batch(
                keras,
                image["folder"],
                image["label_mode"],
                image["color_mode"],
                image["image_size"],
                image["data_format"],
                image["rows"],
            )
        except Exception as exc:  # Keras and TensorFlow raise many types for bad images
            raise_if_resource(exc)
            return {
                "status": "fail",
                "error": f"the image folder {image['shown']} does not load as the model needs "
                "it: " + _first_line(exc),
            }
        rows = len(pixels)
        x = {image["x"]: pixels}
        y = {image["y"]: labels}

    keras.backend.clear_session()  # names of earlier models in this process must not clash
    try:
        with warnings.catch_warnings():
            # Keras warns that an unbuilt optimizer's slots are skipped: expected for a fresh one.
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(model_path, compile=True, safe_mode=not trust_model)
    except Exception as exc:  # Keras raises many types while loading; report, do not crash
        raise_if_resource(exc)
        return {"status": "fail", "error": f"Keras could not load the model: {_first_line(exc)}"}
    if getattr(model, "loss", None) is None:
        return {"status": "skipped", "reason": "the model was saved without a loss"}
    # A fresh optimizer of the saved kind: a restored one is bound to the saved variables.
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    model.compile(optimizer=optimizer, loss=model.loss)
    x_in = x if len(x) > 1 else next(iter(x.values()))
    y_in = y if len(y) > 1 else next(iter(y.values()))
    try:
        try:
            loss = model.train_on_batch(x_in, y_in)
        except Exception as exc:
            raise_if_resource(exc)
            if "only supports NHWC" not in str(exc):
                raise
            # channels_first convolutions: TensorFlow's own CPU kernels (oneDNN is off, to
            # keep its chatter off stderr) train only NHWC; XLA compiles NCHW on the CPU.
            optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
            model.compile(optimizer=optimizer, loss=model.loss, jit_compile=True)
            loss = model.train_on_batch(x_in, y_in)
    except Exception as exc:  # Keras raises many types; the message is what the user needs
        raise_if_resource(exc)
        return {"status": "fail", "rows": rows, "error": _first_line(exc)}
    value = float(np.asarray(loss).ravel()[0])
    return {"status": "pass", "rows": rows, "loss": value}


def _first_line(exc: BaseException) -> str:
    """Keras's (or TensorFlow's) own first line of the error, never the call signature or
    graph node dump around it (issue 15)."""
    return keras_error_line(str(exc)) or type(exc).__name__
