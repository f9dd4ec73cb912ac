"""Keras builds the architecture: runs in the Keras child process (model/keras_child.py).

Keras decides every shape here; kerasfix does no shape arithmetic of its own. The model is
built from its config in Keras's safe mode, exactly as `model_from_json` builds it. When that
fails, the build is replayed one layer call at a time, in Keras's own order (a Sequential's
list; a Functional's nodes, as `functional_from_config` processes them), to name the first
layer that breaks and the shapes it received. Nothing here runs a model that holds code: the
caller never asks about a KF003 model unless the user passed --trust-model.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

from kerasfix.findings import Shape
from kerasfix.model.architecture import (
    BuildOutcome,
    LayerBreak,
    LayerShapes,
    clean_keras_message,
)
from kerasfix.model.config import MODEL_CLASSES, declared_batch_shape, layer_list, layer_name
from kerasfix.model.keras_child import raise_if_resource, require_keras


def _shape(value: Any) -> Shape:
    return tuple(None if d is None else int(d) for d in value.shape)


def _shapes(structure: Any, keras: Any) -> tuple[Shape, ...]:
    return tuple(
        _shape(t) for t in keras.tree.flatten(structure) if isinstance(t, keras.KerasTensor)
    )


def modern_config(config: dict[str, Any]) -> dict[str, Any]:
    """Legacy .h5 Functional configs name no module; Keras 3 finds its Functional by module."""
    if "module" not in config and config.get("class_name") in ("Functional", "Model"):
        return {
            **config,
            "class_name": "Functional",
            "module": "keras.src.models.functional",
            "registered_name": "Functional",
        }
    return config


def _deserialize(keras: Any, config: dict[str, Any], safe_mode: bool) -> Any:
    if "module" not in config:
        # Legacy (.h5, Keras 2) layer configs: Keras's own legacy path, as its loaders take it.
        from keras.src.legacy.saving import saving_utils

        return saving_utils.model_from_config(modern_config(config))
    return keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)


def _break(
    keras: Any,
    exc: BaseException,
    layer: Any,
    raw: dict[str, Any] | None,
    received: tuple[Shape, ...],
    path: tuple[str, ...],
) -> LayerBreak:
    name = layer.name if layer is not None else (layer_name(raw) if raw else None)
    class_name = type(layer).__name__ if layer is not None else (raw or {}).get("class_name")
    return LayerBreak(
        name=name,
        class_name=str(class_name) if class_name else None,
        received=received,
        message=clean_keras_message(str(exc)),
        error=type(exc).__name__,
        path=path,
        input_spec=_input_spec(layer),
    )


def _input_spec(layer: Any) -> dict[str, Any]:
    spec = getattr(layer, "input_spec", None)
    if isinstance(spec, list | tuple):
        spec = spec[0] if spec else None
    if spec is None:
        return {}
    found: dict[str, Any] = {}
    for key in ("ndim", "min_ndim", "max_ndim"):
        value = getattr(spec, key, None)
        if isinstance(value, int):
            found[key] = value
    axes = getattr(spec, "axes", None)
    if isinstance(axes, dict) and axes:
        found["axes"] = {int(k): int(v) for k, v in axes.items() if v is not None}
    return found


def build_architecture(model_config: dict[str, Any], trust_model: bool = False) -> BuildOutcome:
    """Build `model_config` as Keras does; on failure, the first layer that breaks."""
    keras = require_keras()
    keras.backend.clear_session()
    config = without_layer_builds(modern_config(model_config))
    inputs = _declared_inputs(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = _deserialize(keras, copy.deepcopy(config), not trust_model)
        except Exception as exc:  # Keras raises many types; its message says why
            raise_if_resource(exc)
            seen: list[LayerShapes] = []
            broken = _locate(keras, config, (), not trust_model, seen)
            if broken is None:  # not in one layer: the graph, or the model class itself
                broken = _break(keras, exc, None, None, (), ())
            return BuildOutcome(inputs, layers=tuple(seen), broken=broken)
    if not getattr(model, "built", False) or not getattr(model, "outputs", None):
        return BuildOutcome(
            inputs,
            unsupported="Keras did not build the model from its config (no input shape, or a "
            "layer whose output shape Keras cannot infer)",
        )
    return BuildOutcome(
        inputs,
        layers=tuple(_layer_shapes(keras, model, ())),
        outputs=tuple(_shape(t) for t in model.outputs),
    )


def without_layer_builds(config: dict[str, Any]) -> dict[str, Any]:
    """The config without its layers' recorded build shapes: Keras would build each layer for
    the shapes it was saved with, and an edited config (another input shape, another layer
    argument) would then build although its layers no longer fit. A Sequential keeps its own
    build shape: for a model without an InputLayer it is the only input shape there is."""
    config = copy.deepcopy(config)
    stack: list[Any] = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") != "Sequential":
                node.pop("build_config", None)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return config


def _declared_inputs(config: dict[str, Any]) -> dict[str, Shape]:
    layers = layer_list(config)
    if config.get("class_name") == "Sequential":
        shape = declared_batch_shape(layers[0]) if layers else None
        return {layer_name(layers[0]): shape} if shape is not None else {}
    found: dict[str, Shape] = {}
    for raw in layers:
        if raw.get("class_name") == "InputLayer":
            shape = declared_batch_shape(raw)
            if shape is not None:
                found[layer_name(raw)] = shape
    return found


def _layer_shapes(keras: Any, model: Any, path: tuple[str, ...]) -> list[LayerShapes]:
    found: list[LayerShapes] = []
    for layer in model.layers:
        nodes = [n for n in getattr(layer, "_inbound_nodes", []) if n.input_tensors]
        if type(model).__name__ == "Sequential":
            nodes = nodes[-1:]  # a Sequential calls each layer again whenever it rebuilds
        if not nodes and type(layer).__name__ == "InputLayer":
            continue
        for node in nodes or [None]:
            ins: tuple[Shape, ...]
            outs: tuple[Shape, ...]
            if node is None:
                try:
                    ins, outs = (_shape(layer.input),), (_shape(layer.output),)
                except (AttributeError, ValueError):
                    continue
            else:
                ins = _shapes(node.input_tensors, keras)
                outs = _shapes(node.output_tensors, keras)
            found.append(LayerShapes(layer.name, type(layer).__name__, ins, outs, path))
        if type(layer).__name__ in MODEL_CLASSES or hasattr(layer, "layers"):
            inner = getattr(layer, "layers", None)
            if inner and type(layer).__name__ in ("Sequential", "Functional"):
                found.extend(_layer_shapes(keras, layer, (*path, layer.name)))
    return found


# --- replaying the build to name the layer that breaks ------------------------------------


def _locate(
    keras: Any,
    config: dict[str, Any],
    path: tuple[str, ...],
    safe_mode: bool,
    seen: list[LayerShapes],
) -> LayerBreak | None:
    """Replay the build of `config` layer call by layer call; the first call that raises.
    `seen` gathers the calls that worked, in order."""
    config = modern_config(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if config.get("class_name") == "Sequential":
                return _locate_sequential(keras, config, path, safe_mode, seen)
            return _locate_functional(keras, config, path, safe_mode, seen)
        except _Unlocated:
            return None


class _Unlocated(Exception):
    """The replay could not follow the config; Keras's own message stands alone."""


def _nested_or_break(
    keras: Any,
    exc: BaseException,
    raw: dict[str, Any],
    received: tuple[Shape, ...],
    path: tuple[str, ...],
    safe_mode: bool,
    seen: list[LayerShapes],
) -> LayerBreak:
    """A layer whose config did not deserialize: a nested model breaks inside itself."""
    if raw.get("class_name") in MODEL_CLASSES:
        inner = _locate(keras, raw, (*path, layer_name(raw)), safe_mode, seen)
        if inner is not None:
            return inner
    return _break(keras, exc, None, raw, received, path)


def _locate_sequential(
    keras: Any,
    config: dict[str, Any],
    path: tuple[str, ...],
    safe_mode: bool,
    seen: list[LayerShapes],
    start: Shape | None = None,
) -> LayerBreak | None:
    """`start`: the shape a nested Sequential is called on (it may declare no input)."""
    layers = layer_list(config)
    x: Any = None if start is None else keras.Input(batch_shape=start)
    for index, raw in enumerate(layers):
        if raw.get("class_name") == "InputLayer":
            if x is None:
                x = _deserialize(keras, copy.deepcopy(raw), safe_mode).output
            continue
        if x is None:
            shape = declared_batch_shape(raw) if index == 0 else None
            build = (config.get("build_config") or {}).get("input_shape")
            shape = shape or (tuple(build) if isinstance(build, list) else None)
            if shape is None:
                raise _Unlocated("no input shape")
            x = keras.Input(batch_shape=shape)
        received = (_shape(x),)
        try:
            layer = _deserialize(keras, copy.deepcopy(raw), safe_mode)
        except Exception as exc:  # as Keras raises it
            raise_if_resource(exc)
            return _nested_or_break(keras, exc, raw, received, path, safe_mode, seen)
        try:
            x = layer(x)
        except Exception as exc:  # as Keras raises it
            raise_if_resource(exc)
            if raw.get("class_name") == "Sequential":  # breaks inside, for what it was given
                inner = _locate_sequential(
                    keras, raw, (*path, layer_name(raw)), safe_mode, seen, start=received[0]
                )
                if inner is not None:
                    return inner
            return _break(keras, exc, layer, raw, received, path)
        seen.append(
            LayerShapes(layer.name, type(layer).__name__, received, _shapes(x, keras), path)
        )
    return None


def _locate_functional(
    keras: Any,
    config: dict[str, Any],
    path: tuple[str, ...],
    safe_mode: bool,
    seen: list[LayerShapes],
) -> LayerBreak | None:
    try:
        from keras.src.models.functional import deserialize_node
    except ImportError as exc:  # a Keras whose internals moved: its message stands alone
        raise _Unlocated(str(exc)) from None
    layers = layer_list(config)
    created: dict[str, Any] = {}
    pending: dict[str, list[Any]] = {}
    for raw in layers:
        name = layer_name(raw)
        try:
            created[name] = _deserialize(keras, copy.deepcopy(raw), safe_mode)
        except Exception as exc:  # as Keras raises it
            raise_if_resource(exc)
            return _nested_or_break(keras, exc, raw, (), path, safe_mode, seen)
        pending[name] = list(raw.get("inbound_nodes") or [])
    # Keras's order: sweep the layers in config order, calling each node whose inputs exist;
    # a node whose inbound tensors are not made yet waits for the next sweep.
    while any(pending.values()):
        progressed = False
        for raw in layers:
            name = layer_name(raw)
            layer = created[name]
            while pending[name]:
                try:
                    args, kwargs = deserialize_node(pending[name][0], created)
                except IndexError:
                    break
                except Exception as exc:  # a node that names no layer: a broken graph
                    raise_if_resource(exc)
                    raise _Unlocated(str(exc)) from None
                try:
                    outputs = layer(*args, **kwargs)
                except Exception as exc:  # as Keras raises it
                    raise_if_resource(exc)
                    return _break(keras, exc, layer, raw, _shapes(args, keras), path)
                if type(layer).__name__ != "InputLayer":
                    seen.append(
                        LayerShapes(
                            layer.name,
                            type(layer).__name__,
                            _shapes(args, keras),
                            _shapes(outputs, keras),
                            path,
                        )
                    )
                pending[name].pop(0)
                progressed = True
        if not progressed:
            raise _Unlocated("the graph has loops or disconnected nodes")
    return None
