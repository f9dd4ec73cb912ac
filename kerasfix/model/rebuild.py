"""Architecture repair, in the Keras child process: apply KF601 edits to the saved config,
keep every weight whose shape is unchanged, write the model, and have Keras confirm that it
builds, maps a batch of the data and trains one step.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import warnings
import zipfile
from typing import Any

import numpy as np

from kerasfix import safeio
from kerasfix.model.build import _deserialize, modern_config
from kerasfix.model.keras_child import raise_if_resource, require_keras
from kerasfix.model.patch import architecture, read_saved_config, with_architecture_edit


def _first_line(exc: BaseException) -> str:
    from kerasfix.model.architecture import clean_keras_message

    lines = clean_keras_message(str(exc)).splitlines()
    return lines[0] if lines else type(exc).__name__


def write_edited_model(
    model_path: str,
    edits: list[dict[str, Any]],
    destination: str,
    batch_x: Any,
    batch_y: Any,
    trust_model: bool,
) -> dict[str, Any]:
    """Write `destination` (an architecture .json for a .json input, else a .keras with the
    weights kept) and return Keras's check of it: builds, maps the data, trains one step."""
    keras = require_keras()
    keras.backend.clear_session()
    saved = read_saved_config(model_path)
    config = architecture(saved)
    for edit in edits:
        config = with_architecture_edit(config, edit)
    check: dict[str, Any] = {"builds": False, "maps_data": None, "trains": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # Keras's from_config pops what it reads: it gets a copy, the file gets the config.
            model = _deserialize(keras, copy.deepcopy(modern_config(config)), not trust_model)
        except Exception as exc:  # Keras says why in many types
            raise_if_resource(exc)
            check["error"] = f"Keras cannot build the edited model: {_first_line(exc)}"
            return check
        check["builds"] = bool(getattr(model, "outputs", None))
        if saved.format == "json":
            wrapper = {k: v for k, v in saved.model.items() if k not in ("class_name", "config")}
            with open(destination, "w") as fh:
                json.dump({**config, **wrapper}, fh)
            check["weights"] = {"kept": [], "initialized": []}
        else:
            check["weights"] = _load_weights(keras, model, model_path, saved.format, trust_model)
            _compile_as_saved(keras, model, saved.model.get("compile_config"), saved.loss)
            model.save(destination)
        x = batch_x if batch_x is not None else _probe_inputs(model)
        x = _fit_rank(model, x)
        try:
            model.predict_on_batch(x)  # no tf.data thread pool (see model/trace.py)
            check["maps_data"] = batch_x is not None or None
        except Exception as exc:  # as Keras raises it
            raise_if_resource(exc)
            check["maps_data"] = False
            check["error"] = f"the edited model cannot take the data: {_first_line(exc)}"
            return check
        if getattr(model, "loss", None) is None:
            # An architecture has no loss: the one its labels and head imply.
            model.compile(optimizer="adam", loss=_loss_for(model, batch_y))
        y = batch_y if batch_y is not None else _zeros_like_outputs(model, x)
        try:
            loss = model.train_on_batch(x, y)
            check["trains"] = True
            check["loss"] = float(np.asarray(loss).ravel()[0])
        except Exception as exc:  # as Keras raises it
            raise_if_resource(exc)
            check["error"] = f"the edited model does not train one step: {_first_line(exc)}"
    return check


def _load_weights(
    keras: Any, model: Any, model_path: str, fmt: str, trust_model: bool
) -> dict[str, list[str]]:
    """Every saved weight whose shape the edit kept; the others keep their fresh values."""
    before = {
        layer.name: [np.array(w) for w in layer.get_weights()]
        for layer in model.layers
        if layer.weights
    }
    if fmt == "keras":
        with zipfile.ZipFile(model_path) as archive:
            safeio.check_archive(archive)
            data = safeio.read_zip_member(archive, "model.weights.h5")
        handle, tmp = tempfile.mkstemp(suffix=".weights.h5")
        try:
            with os.fdopen(handle, "wb") as fh:
                fh.write(data)
            model.load_weights(tmp, skip_mismatch=True)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    else:  # a legacy .h5 the original Keras can load: copy layer by layer where shapes agree
        original = keras.saving.load_model(model_path, compile=False, safe_mode=not trust_model)
        sources = {layer.name: layer for layer in original.layers}
        for layer in model.layers:
            source = sources.get(layer.name)
            if source is None or not layer.weights:
                continue
            values = source.get_weights()
            if [v.shape for v in values] == [tuple(w.shape) for w in layer.weights]:
                layer.set_weights(values)
    kept: list[str] = []
    initialized: list[str] = []
    for layer in model.layers:
        if layer.name not in before:
            continue
        after = layer.get_weights()
        changed = any(
            not np.array_equal(a, b) for a, b in zip(before[layer.name], after, strict=True)
        )
        (kept if changed else initialized).append(layer.name)
    return {"kept": sorted(kept), "initialized": sorted(initialized)}


def _compile_as_saved(keras: Any, model: Any, compile_config: Any, loss: Any) -> None:
    if isinstance(compile_config, dict):
        with contextlib.suppress(Exception):  # an exotic compile config: trained with mse
            model.compile_from_config(compile_config)
            return
    if loss is not None:
        with contextlib.suppress(Exception):
            model.compile(optimizer="adam", loss=keras.losses.get(loss))


def _probe_inputs(model: Any) -> Any:
    rng = np.random.default_rng(0)
    feed = []
    for tensor in model.inputs:
        shape = (2, *(d if d is not None else 8 for d in tuple(tensor.shape)[1:]))
        if "int" in str(tensor.dtype):
            feed.append(rng.integers(0, 2, size=shape).astype(str(tensor.dtype)))
        else:
            feed.append(rng.random(shape).astype("float32"))
    return feed if len(feed) > 1 else feed[0]


def _fit_rank(model: Any, x: Any) -> Any:
    """Data one axis short of an input the edit gave a channel axis: add it, as the repaired
    data will have it (kerasfix repair adds it: KF101)."""
    if isinstance(x, np.ndarray) and len(model.inputs) == 1:
        want = len(model.inputs[0].shape)
        if x.ndim == want - 1:
            return np.expand_dims(x, -1)
    return x


def _zeros_like_outputs(model: Any, x: Any) -> Any:
    """Labels of class 0 for every output, as the model's loss reads them (ids for a sparse
    loss, else the output's own shape): the step checks that it trains, not what it learns."""
    first = x[0] if isinstance(x, list) else next(iter(x.values())) if isinstance(x, dict) else x
    rows = len(first)
    sparse = "sparse" in str(getattr(model, "loss", "")).lower()
    outs = []
    for tensor in model.outputs:
        dims = tuple(d if d is not None else 1 for d in tuple(tensor.shape)[1:])
        if sparse:
            outs.append(np.zeros((rows, *dims[:-1]), "int32"))
        else:
            outs.append(np.zeros((rows, *dims), "float32"))
    return outs if len(outs) > 1 else outs[0]


def _loss_for(model: Any, y: Any) -> str:
    """The loss a model saved without one trains with on labels `y`: class ids for a
    multi-unit head are sparse categorical, one-hot rows categorical, 0/1 for one unit binary;
    anything else (or no labels) mean squared error."""
    if not isinstance(y, np.ndarray) or len(model.outputs) != 1:
        return "mse"
    out = tuple(model.outputs[0].shape)
    units = out[-1]
    if np.issubdtype(y.dtype, np.integer) and y.ndim == len(out) - 1 and (units or 0) > 1:
        return "sparse_categorical_crossentropy"
    if y.ndim == len(out) and y.shape[-1] == units:
        binary = bool(np.isin(y, (0, 1)).all())
        if units == 1 and binary:
            return "binary_crossentropy"
        if (units or 0) > 1 and binary and bool((y.sum(axis=-1) == 1).all()):
            return "categorical_crossentropy"
    if np.issubdtype(y.dtype, np.integer) and y.ndim == len(out) and y.shape[-1] == 1:
        return "sparse_categorical_crossentropy" if (units or 0) > 1 else "binary_crossentropy"
    return "mse"
