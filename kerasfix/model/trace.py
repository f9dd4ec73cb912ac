"""Asking Keras whether a model patch is safe, writing the patched model, and running the
model's augmentation layers: runs in the Keras child process (model/keras_child.py), never in
the run's own process; every function takes plain data (absolute paths: the child keeps the
directory it started in) and returns what pickles.

A candidate input shape passes only if Keras builds the whole model for it (from the saved
config, safe mode) and every layer's weights keep the shapes they were saved with, so the
saved weights still load. Nothing here runs a model that holds code: callers refuse KF003
models unless the user passed --trust-model. Keras below the security floor is never asked
(`require_keras`).
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerasfix.findings import Shape
from kerasfix.model.contract import format_shape
from kerasfix.model.keras_child import raise_if_resource
from kerasfix.model.patch import (
    architecture,
    read_saved_config,
    switched_loss,
    with_input_dim,
    with_input_shape,
)


@dataclass(frozen=True)
class Verdict:
    patchable: bool
    batch_shape: Shape
    reason: str
    layer: str | None = None


def keras_module() -> Any:
    """Keras at or above the security floor (KerasTooOld below it), on the CPU."""
    from kerasfix.model.keras_child import require_keras

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    return require_keras()


def _build(config: dict[str, Any]) -> Any:
    keras = keras_module()
    if "module" not in config and config.get("class_name") in ("Functional", "Model"):
        # Legacy .h5 configs name no module; Keras 3 finds its own Functional by module.
        config = {**config, "class_name": "Functional", "module": "keras.src.models.functional"}
        config["registered_name"] = "Functional"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # model_from_json deserializes in Keras's safe mode.
        return keras.models.model_from_json(json.dumps(config))


def _weights(model: Any) -> dict[str, tuple[str, list[tuple[int, ...]]]]:
    shapes: dict[str, tuple[str, list[tuple[int, ...]]]] = {}
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        shapes[layer.name] = (type(layer).__name__, [tuple(w.shape) for w in layer.weights])
        stack.extend(getattr(layer, "layers", []))
    return shapes


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _copy_weights(original: Any, patched: Any, grown: set[str]) -> None:
    """Every layer's weights as saved; a grown Embedding keeps its old rows, and its new rows
    are the ones its own initializer just drew."""
    if not grown:
        patched.set_weights(original.get_weights())
        return
    old_layers = {layer.name: layer for layer in _layers(original)}
    for layer in _layers(patched):
        source = old_layers.get(layer.name)
        if source is None or not source.weights:
            continue
        if layer.name in grown:
            (table,) = [np.array(w) for w in layer.get_weights()]
            (old,) = source.get_weights()
            table[: old.shape[0]] = old
            layer.set_weights([table])
        elif not getattr(layer, "layers", None):
            layer.set_weights(source.get_weights())


def _layers(model: Any) -> list[Any]:
    found, stack = [], list(model.layers)
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found


@functools.lru_cache(maxsize=64)
def _probe(shape: Shape, dtype: str, seed: int = 0) -> Any:
    """Two random samples of `shape` (None axes: 4 steps), ids for integer inputs."""
    rng = np.random.default_rng(seed)
    concrete = (2, *(d if d is not None else 4 for d in shape[1:]))
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 2, size=concrete).astype(dtype)
    return rng.random(concrete).astype(dtype if dtype.startswith("float") else "float32")


def _runs_on(model: Any, input_name: str, data_shape: Shape) -> str | None:
    """Why the model fails on a batch of the data's shape, or None when it runs. Building is
    not enough: a Reshape, or a nested model with its own fixed Input, fails only when run."""
    inputs = []
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        shape = data_shape if name == input_name or len(model.inputs) == 1 else tuple(tensor.shape)
        inputs.append(_probe(shape, str(tensor.dtype)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # predict_on_batch, not predict: no tf.data pipeline and its thread pool, which
            # is what fails first under an address-space limit (ulimit -v).
            model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0])
    except Exception as exc:  # Keras raises many types; its message names the layer
        raise_if_resource(exc)
        return _first_line(exc)
    return None


def _breaking_layer(model: dict[str, Any], input_name: str, shape: Shape) -> tuple[str, str | None]:
    """The layer the shape breaks, as the KF601 replay names it ("" when none does)."""
    from kerasfix.model.build import build_architecture

    try:
        brk = build_architecture(with_input_shape(model, input_name, shape)).broken
    except Exception as exc:  # naming the layer is a courtesy; Keras's own message stands
        raise_if_resource(exc)
        return "", None
    if brk is None or brk.name is None:
        return "", None
    return f"{brk.where} cannot take {', '.join(map(format_shape, brk.received))}: ", brk.name


def input_patch(model_path: str, input_name: str, candidates: tuple[Shape, ...]) -> Verdict:
    """The first candidate batch_shape that Keras builds with every weight unchanged and that
    runs on a batch of the data's shape (the last candidate is the data's own shape)."""
    saved = read_saved_config(model_path)
    model = architecture(saved)
    original = _weights(_build(model))
    data_shape = candidates[-1]
    verdict = Verdict(False, candidates[-1], "no candidate shape was tried")
    for candidate in candidates:
        try:
            built = _build(with_input_shape(model, input_name, candidate))
            patched = _weights(built)
        except Exception as exc:  # Keras says why a shape cannot be built, in many types
            raise_if_resource(exc)
            where, layer = _breaking_layer(model, input_name, candidate)
            verdict = Verdict(
                False, candidate, f"Keras cannot build it: {where}{_first_line(exc)}", layer
            )
            continue
        failure = _runs_on(built, input_name, data_shape)
        if failure is not None:
            where, layer = _breaking_layer(model, input_name, data_shape)
            verdict = Verdict(
                False, candidate, f"Keras builds it but cannot run it: {where}{failure}", layer
            )
            continue
        changed = [
            (name, kind, old, patched[name][1])
            for name, (kind, old) in sorted(original.items())
            if name in patched and patched[name][1] != old
        ]
        if not changed:
            return Verdict(True, candidate, "no weight depends on it")
        name, kind, old, new = changed[0]
        verdict = Verdict(
            False,
            candidate,
            f"the weights of {kind} '{name}' depend on it: {old[0]} as saved, {new[0]} for "
            f"{format_shape(candidate)}",
            layer=name,
        )
    return verdict


def write_patched_model(
    model_path: str,
    destination: str,
    input_shapes: dict[str, Shape],
    losses: dict[str, str],
    trust_model: bool,
    embeddings: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Write `destination` (.keras): the saved architecture with the patches, the original
    weights, compiled with the (patched) loss; then load it fresh and check that it gives the
    original's outputs on inputs both accept."""
    keras = keras_module()
    saved = read_saved_config(model_path)
    model_config = architecture(saved)
    for name, shape in input_shapes.items():
        model_config = with_input_shape(model_config, name, shape)
    for layer_name, input_dim in (embeddings or {}).items():
        model_config = with_input_dim(model_config, layer_name, input_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = keras.saving.load_model(model_path, compile=True, safe_mode=not trust_model)
        patched = _build(model_config)
        _copy_weights(original, patched, set(embeddings or {}))
    loss = saved.loss
    outputs = [str(n) for n in getattr(original, "output_names", [])] or [
        t.name for t in original.outputs
    ]
    for output, new_name in losses.items():
        loss = switched_loss(loss, output, outputs, new_name)
    if loss is not None and isinstance(saved.model.get("compile_config"), dict):
        # Everything as saved (loss_weights, metrics, ...) but the loss.
        patched.compile_from_config({**saved.model["compile_config"], "loss": loss})
    elif loss is not None:

        def resolve(value: Any) -> Any:
            return keras.losses.get(value)

        compiled = (
            {k: resolve(v) for k, v in loss.items()}
            if isinstance(loss, dict) and "class_name" not in loss
            else resolve(loss)
        )
        optimizer = getattr(original, "optimizer", None)
        fresh = type(optimizer).from_config(optimizer.get_config()) if optimizer else "adam"
        patched.compile(optimizer=fresh, loss=compiled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patched.save(destination)
        reloaded = keras.saving.load_model(destination, compile=True)
    probe = [_probe(tuple(t.shape), str(t.dtype), seed=i) for i, t in enumerate(original.inputs)]
    feed = probe if len(probe) > 1 else probe[0]
    before = keras.tree.flatten(original.predict_on_batch(feed))
    after = keras.tree.flatten(reloaded.predict_on_batch(feed))
    same = len(before) == len(after) and all(
        np.allclose(a, b, atol=1e-5) for a, b in zip(before, after, strict=True)
    )
    return {
        "inputs": {n: list(s) for n, s in input_shapes.items()},
        "losses": losses,
        "embeddings": dict(embeddings or {}),
        "same_outputs": bool(same),
    }


# --- preprocessing and augmentation (KF501-KF503) -------------------------------------------

# Layers whose output shape may differ between draws or between training and inference.
SHAPE_CHANGING_LAYERS = frozenset({"RandomCrop", "CenterCrop", "Resizing"})


def is_augmentation_layer(class_name: str) -> bool:
    """Keras's random augmentation layers and the resizing/cropping layers."""
    return class_name.startswith("Random") or class_name in SHAPE_CHANGING_LAYERS


def augmentation_layer_names(config: Any) -> list[tuple[str, str]]:
    """(name, class) of every augmentation layer a saved config holds, read as plain data."""
    found: list[tuple[str, str]] = []
    stack: list[Any] = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            class_name = node.get("class_name")
            layer_config = node.get("config")
            if isinstance(class_name, str) and is_augmentation_layer(class_name):
                name = layer_config.get("name") if isinstance(layer_config, dict) else None
                found.append((str(name or node.get("name") or class_name), class_name))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


@dataclass(frozen=True)
class LayerModes:
    """What one augmentation layer hands to the next layer, per training draw and at inference."""

    layer: str
    class_name: str
    training: tuple[tuple[int | None, ...] | str, ...]  # a shape per draw, or the error
    inference: tuple[int | None, ...] | str


@dataclass(frozen=True)
class ModelModes:
    layers: tuple[LayerModes, ...]
    # The whole model on the probe batch: None when it runs, else Keras's first line.
    training_error: str | None
    inference_error: str | None


def _shape(value: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in value.shape)


def _contains_augmentation(layer: Any) -> bool:
    if is_augmentation_layer(type(layer).__name__):
        return True
    return any(_contains_augmentation(inner) for inner in getattr(layer, "layers", []))


def augmentation_modes(
    model_path: str, probe_shapes: dict[str, Shape], draws: int, seed: int
) -> ModelModes:
    """Run the model's top-level augmentation layers (or nested blocks holding them) on a
    random batch of `probe_shapes` (None axes: 8), `draws` times in training mode and once in
    inference mode, and the whole model in both modes. The model is built from its config in
    Keras's safe mode; weights do not change shapes, so they are not loaded."""
    keras = keras_module()
    model = _build(architecture(read_saved_config(model_path)))
    feed = []
    for i, tensor in enumerate(model.inputs):
        name = tensor.name.split(":")[0]
        shape = probe_shapes.get(name) or (
            next(iter(probe_shapes.values())) if len(probe_shapes) == 1 else tuple(tensor.shape)
        )
        concrete = (2, *(d if d is not None else 8 for d in shape[1:]))
        feed.append(_probe(concrete, str(tensor.dtype), seed=seed + i))
    inputs = feed if len(feed) > 1 else feed[0]
    chosen = [layer for layer in model.layers if _contains_augmentation(layer)]
    results: list[LayerModes] = []

    def run(target: Any, training: bool) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return target(inputs, training=training)

    if chosen:
        probe = keras.Model(model.inputs, [layer.output for layer in chosen])
        per_draw: list[list[Any]] = []
        for draw in range(draws):
            keras.utils.set_random_seed(seed + draw)
            try:
                outputs = run(probe, True)
                per_draw.append([_shape(o) for o in keras.tree.flatten(outputs)])
            except Exception as exc:  # Keras raises many types; its message says why
                raise_if_resource(exc)
                per_draw.append([_first_line(exc)] * len(chosen))
        try:
            inference: list[Any] = [_shape(o) for o in keras.tree.flatten(run(probe, False))]
        except Exception as exc:  # as above
            raise_if_resource(exc)
            inference = [_first_line(exc)] * len(chosen)
        for index, layer in enumerate(chosen):
            results.append(
                LayerModes(
                    layer.name,
                    type(layer).__name__,
                    tuple(draw_shapes[index] for draw_shapes in per_draw),
                    inference[index],
                )
            )
    errors: list[str | None] = []
    for training in (True, False):
        keras.utils.set_random_seed(seed)
        try:
            run(model, training)
            errors.append(None)
        except Exception as exc:  # as above
            raise_if_resource(exc)
            errors.append(_first_line(exc))
    return ModelModes(tuple(results), errors[0], errors[1])


@functools.lru_cache(maxsize=4)
def _built(real_path: str, mtime_ns: int) -> Any:
    """Built once per file and version: a relative `model.keras` names many files."""
    return _build(architecture(read_saved_config(real_path)))


def model_run_error(model_path: str, batch: Any) -> str | None:
    """Why the model (built from its config, safe mode) cannot take `batch` (an array, or a
    dict by input name), or None when it runs on it."""
    model = _built(os.path.realpath(model_path), os.stat(model_path).st_mtime_ns)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model(batch, training=False)
    except Exception as exc:  # Keras raises many types; its message names the layer
        raise_if_resource(exc)
        return _first_line(exc)
    return None
