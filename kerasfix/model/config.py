"""Turn a Keras model config (plain JSON data) into a ModelContract.

Nothing here imports Keras or anything a config names: `module`, `class_name` and
`registered_name` are compared as strings. Handles the Keras 3 format (`.keras` and Keras 3's
legacy `.h5`) and the Keras 2 format (`batch_input_shape`, list-style `inbound_nodes`).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kerasfix.findings import Shape
from kerasfix.model.contract import (
    EmbeddingSpec,
    InputSpec,
    LossSpec,
    ModelContract,
    OutputSpec,
    UnsafeLayer,
)
from kerasfix.model.known_classes import KNOWN_KERAS_CLASSES, KNOWN_KERAS_FUNCTIONS

# Deeper than this, a config is hostile or broken (real models nest a few dozen levels).
MAX_CONFIG_DEPTH = 100
MAX_CONFIG_NODES = 2_000_000

MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})
# Classes that run code or load other programs even under Keras's safe mode.
UNSAFE_CLASSES = frozenset(
    {"Lambda", "__lambda__", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}
)
# Keras functions that read or write files or change how loading works: Keras's own deny-list
# (NON_MODELING_APIS, 3.15.1) and the public functions it misses that write files
# (shared/research/security.md, 1.1): a model naming one is a code-reuse gadget.
KERAS_GADGETS = frozenset(
    {
        "audio_dataset_from_directory",
        "clear_session",
        "deserialize_keras_object",
        "enable_unsafe_deserialization",
        "get_file",
        "image_dataset_from_directory",
        "load_img",
        "load_model",
        "load_weights",
        "model_from_json",
        "model_to_dot",
        "plot_image_gallery",
        "plot_model",
        "register_keras_serializable",
        "save_img",
        "save_model",
        "save_weights",
        "serialize_keras_object",
        "text_dataset_from_directory",
    }
)
# Libraries besides the standard library whose functions reach the host (files, network,
# processes, pickles): a config naming them names code outside Keras.
HOST_LIBRARIES = frozenset(
    {
        "cloudpickle",
        "dill",
        "httpx",
        "IPython",
        "jax",
        "joblib",
        "numpy",
        "pandas",
        "pip",
        "requests",
        "scipy",
        "setuptools",
        "tensorflow",
        "torch",
        "urllib3",
    }
)
# Python built-ins that run code, reach files or the interpreter's state.
PYTHON_BUILTINS = frozenset(
    {
        "__import__",
        "breakpoint",
        "compile",
        "delattr",
        "eval",
        "exec",
        "exit",
        "getattr",
        "globals",
        "input",
        "locals",
        "open",
        "quit",
        "setattr",
        "vars",
    }
)
# The modules Keras's own safe mode trusts (CVE-2025-1550 fix).
TRUSTED_MODULE_ROOTS = ("keras", "keras_hub", "keras_cv", "keras_nlp")
# Config fields that name files or URLs: loading them reads the host (CVE-2025-12058).
PATH_FIELDS = frozenset({"vocabulary", "filepath", "origin", "to_file", "file_path"})
# Keys under which a config holds layers: Sequential/Functional lists, and the layers that
# wrappers (TimeDistributed, Bidirectional, RNN cells) hold inside them.
LAYER_KEYS = frozenset({"layers", "layer", "cell", "cells", "forward_layer", "backward_layer"})
RECURRENT_LAYERS = frozenset({"LSTM", "GRU", "SimpleRNN"})
# Layers that carry their own activation into the output.
ACTIVATION_LAYERS = frozenset({"Activation", "Softmax", "ReLU", "LeakyReLU", "ELU", "PReLU"})
LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
    "logcosh": "log_cosh",
}


class ConfigError(ValueError):
    """The config is not a model config kerasfix can read."""


def _dict(value: Any) -> dict[str, Any]:
    """A config field that should hold an object; a hostile or broken file may put anything."""
    return value if isinstance(value, dict) else {}


@dataclass
class _Layer:
    name: str
    class_name: str
    config: dict[str, Any]
    raw: dict[str, Any]
    parents: tuple[str, ...]


def contract_from_config(
    model_config: Any,
    *,
    path: str,
    fmt: str,
    loss_config: Any = None,
    compiled: bool = False,
    keras_version: str | None = None,
    proven_buildable: bool = False,
) -> ModelContract:
    """The data contract of a model config (`{"class_name": ..., "config": ...}`)."""
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        raise ConfigError("the config has no 'class_name': not a Keras model config")
    class_name = model_config["class_name"]
    if class_name not in MODEL_CLASSES:
        raise ConfigError(f"the config describes a {class_name!r}, not a Sequential or Functional")
    try:
        unsafe = tuple(_scan_unsafe(model_config))
        stateful = tuple(_stateful_layers(model_config))
        inputs, outputs = _read_model(model_config)
        outputs = _attach_losses(outputs, loss_config)
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        # A field of the wrong type (a string where Keras writes an object, ...): the file is
        # broken or hostile, which is the user's to know, not a kerasfix crash.
        text = str(exc).strip().splitlines()
        raise ConfigError(
            f"the config holds a value of an unexpected type ({type(exc).__name__}: "
            f"{text[0] if text else ''})"
        ) from None
    return ModelContract(
        path=path,
        format=fmt,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        stateful_layers=stateful,
        unsafe_layers=unsafe,
        keras_version=keras_version,
        compiled=compiled or loss_config is not None,
        proven_buildable=proven_buildable,
    )


# --- walking ---------------------------------------------------------------------------


def _walk(
    node: Any, prune: Callable[[dict[str, Any], bool], bool] | None = None
) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every dict in a config, with whether it sits in a `layers` list; iterative and bounded.
    A dict for which `prune` is true is yielded but not entered."""
    stack: list[tuple[Any, int, bool]] = [(node, 0, True)]
    seen = 0
    while stack:
        item, depth, in_layers = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_NODES:
            raise ConfigError(f"the config has more than {MAX_CONFIG_NODES} values")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"the config nests deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(item, dict):
            yield item, in_layers
            if prune is not None and prune(item, in_layers):
                continue
            for key, value in item.items():
                stack.append((value, depth + 1, key in LAYER_KEYS))
        elif isinstance(item, list):
            for value in item:
                stack.append((value, depth + 1, in_layers))


def _unsafe_reason(node: dict[str, Any], is_layer: bool) -> tuple[str, bool] | None:
    """Why this config object needs code to load, and whether that code runs from outside
    Keras and the user's own registered classes (`True`: the file supplies it, or names code
    any host has: bytecode, the standard library, a gadget, a file path). `False`: a custom
    object only the user's own code can supply, which kerasfix cannot see inside."""
    class_name = node.get("class_name")
    if not isinstance(class_name, str):
        return None
    config = node.get("config")
    config = config if isinstance(config, dict) else {}
    module = node.get("module")
    module = module if isinstance(module, str) else None
    registered = node.get("registered_name")
    if class_name in UNSAFE_CLASSES:
        return _wrapper_reason(class_name, config)
    if class_name == "function" and isinstance(function := node.get("config"), str):
        return _function_reason(function, module)
    if _gadget(class_name):
        return f"it names {class_name!r}, a Keras utility that reads or writes files", True
    if is_layer:
        for field_name in sorted(PATH_FIELDS & config.keys()):
            if isinstance(config[field_name], str):
                return f"its {field_name!r} names a file, which loading reads", True
    if module is not None and not _trusted_module(module):
        if _host_module(module):
            return f"its class comes from module {module!r}, outside Keras", True
        if not _class_like(class_name):
            return f"it names {class_name!r} of module {module!r}, which is not a class", True
        return f"its class comes from module {module!r}: a custom class", False
    if isinstance(registered, str) and ">" in registered and not _trusted_module(registered):
        if _host_module(registered):
            return f"it is the registered object {registered!r}, outside Keras", True
        return f"it is the registered custom object {registered!r}", False
    if (
        (is_layer or ("module" in node and isinstance(registered, str)))
        and module is None
        and class_name not in KNOWN_KERAS_CLASSES
    ):
        if class_name in PYTHON_BUILTINS:
            return f"it names Python's built-in {class_name!r}", True
        return "its class is not a built-in Keras layer", False
    return None


def _wrapper_reason(class_name: str, config: dict[str, Any]) -> tuple[str, bool] | None:
    """The layers that exist to run other code: what each one runs."""
    if class_name == "__lambda__":
        return "it holds Python code (marshalled bytecode)", True
    if class_name == "TFSMLayer":
        path = config.get("filepath")
        where = f" from {path!r}" if isinstance(path, str) else ""
        return f"it loads a TensorFlow SavedModel (a program){where}", True
    if class_name == "TorchModuleWrapper":
        return "it holds a PyTorch module, which loading unpickles", True
    if class_name in ("JaxLayer", "FlaxLayer"):
        return "it wraps JAX functions, which loading looks up and runs", True
    # Lambda: what its function is decides (Keras 3 saves an object, Keras 2 a name or a list).
    function = config.get("function")
    name: Any = None
    module: Any = None
    if isinstance(function, dict) and function.get("class_name") == "function":
        name, module = function.get("config"), function.get("module")
    elif config.get("function_type") == "function":
        name, module = function, config.get("module")
    if not isinstance(name, str):
        return "it holds Python code (marshalled bytecode)", True
    verdict = _function_reason(name, module if isinstance(module, str) else None)
    if verdict is None:
        return f"it holds Python code: a Lambda around Keras's {name!r}", False
    reason, runs_code = verdict
    return f"it holds Python code: a Lambda around {reason.removeprefix('it is ')}", runs_code


def _function_reason(name: str, module: str | None) -> tuple[str, bool] | None:
    """A function a config names (`{"class_name": "function", "config": NAME}`)."""
    if _gadget(name):
        return f"it is {name!r}, a Keras utility that reads or writes files", True
    if module is not None and module != "builtins":
        if _trusted_module(module):
            return None
        if _host_module(module):
            return f"it is the function {name!r} of module {module!r}, outside Keras", True
        return f"it is the function {name!r} of module {module!r}: a custom function", False
    # Keras 3 saves built-in and user functions alike as module "builtins": the name decides.
    if name in KNOWN_KERAS_FUNCTIONS:
        return None
    if name in PYTHON_BUILTINS:
        return f"it is Python's built-in {name!r}, not a Keras function", True
    if ">" in name:
        if _host_module(name):
            return f"it is the function {name!r}, outside Keras", True
        return f"it is the registered custom function {name!r}", False
    return f"it is the function {name!r}, which is not a Keras built-in", False


def _gadget(name: str) -> bool:
    return re.split(r"[.>]", name)[-1] in KERAS_GADGETS


def _host_module(module: str) -> bool:
    """A module any host has whose functions reach the host: never a Keras layer's home."""
    root = re.split(r"[.>]", module, maxsplit=1)[0]
    return root in sys.stdlib_module_names or root in HOST_LIBRARIES


def _class_like(name: str) -> bool:
    return name.isidentifier() and name[:1].isupper()


def _scan_unsafe(model_config: dict[str, Any]) -> Iterator[UnsafeLayer]:
    """Each object that needs code, once: what sits inside an object that runs code is part
    of it; a custom class is entered, since code may hide in its config."""

    def prune(node: dict[str, Any], is_layer: bool) -> bool:
        verdict = _unsafe_reason(node, is_layer)
        # A Lambda's function is described with the Lambda.
        return verdict is not None and (verdict[1] or node.get("class_name") in UNSAFE_CLASSES)

    for node, is_layer in _walk(model_config, prune=prune):
        verdict = _unsafe_reason(node, is_layer)
        if verdict is not None:
            class_name = str(node["class_name"])
            config = node.get("config")
            config = config if isinstance(config, dict) else {}
            name = str(node.get("name") or config.get("name") or class_name)
            yield UnsafeLayer(name, class_name, verdict[0], runs_code=verdict[1])


def _trusted_module(module: str) -> bool:
    root = re.split(r"[.>]", module, maxsplit=1)[0]
    return root in TRUSTED_MODULE_ROOTS


def _stateful_layers(model_config: dict[str, Any]) -> Iterator[str]:
    for node, is_layer in _walk(model_config):
        config = node.get("config")
        if is_layer and isinstance(config, dict) and config.get("stateful") is True:
            yield str(config.get("name") or node.get("class_name"))


# --- layers and the graph ----------------------------------------------------------------


def layer_list(model_config: dict[str, Any]) -> list[dict[str, Any]]:
    config = model_config.get("config")
    # Keras 2.2 saved a Sequential's config as the bare list of layers.
    layers = config if isinstance(config, list) else (config or {}).get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ConfigError("the model config has no list of layers")
    return layers


def layer_name(raw: dict[str, Any]) -> str:
    config = raw.get("config")
    config = config if isinstance(config, dict) else {}
    return str(raw.get("name") or config.get("name") or raw.get("class_name"))


def layer_parents(raw: dict[str, Any]) -> tuple[str, ...]:
    """Names of the layers whose outputs a Functional layer reads as its (positional) inputs."""
    names: list[str] = []
    for node in raw.get("inbound_nodes") or []:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            _tensor_refs(node.get("args"), names)
        else:  # Keras 2: [["layer", node_index, tensor_index, {kwargs}], ...]
            _tensor_refs(node, names)
    return tuple(dict.fromkeys(names))


def _tensor_refs(value: Any, out: list[str]) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                history = _dict(item.get("config")).get("keras_history")
                if isinstance(history, list) and history and isinstance(history[0], str):
                    out.append(history[0])
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int):
                out.append(item[0])
            else:
                stack.extend(reversed(item))


def _node_refs(value: Any) -> list[tuple[str, str]]:
    """`input_layers`/`output_layers` as (name, layer) pairs: `[layer, 0, 0]`, a list of those,
    or a dict of those, whose keys are the names `fit` and the losses use."""
    if isinstance(value, dict):
        return [(str(k), layer) for k, v in value.items() for _, layer in _node_refs(v)]
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [(value[0], value[0])]
    if isinstance(value, list):
        return [pair for v in value for pair in _node_refs(v)]
    return []


def _shape(value: Any) -> Shape | None:
    if not isinstance(value, list | tuple):
        return None
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in value):
        return None
    return tuple(value)


def _dtype(config: dict[str, Any], default: str = "float32") -> str:
    dtype = config.get("dtype")
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict):  # Keras 3 DTypePolicy
        name = _dict(dtype.get("config")).get("name")
        if isinstance(name, str):
            return name.removeprefix("mixed_")
    return default


def declared_batch_shape(layer: dict[str, Any]) -> Shape | None:
    """The input shape a first layer declares, as Keras's Sequential reads it."""
    config = _dict(layer.get("config"))
    for key in ("batch_shape", "batch_input_shape"):
        shape = _shape(config.get(key))
        if shape is not None:
            return shape
    batch_size = config.get("batch_size") if isinstance(config.get("batch_size"), int) else None
    shape = _shape(config.get("input_shape") or config.get("shape"))
    if shape is not None:
        return (batch_size, *shape)
    input_dim = config.get("input_dim")
    if isinstance(input_dim, int) and layer.get("class_name") != "Embedding":
        return (batch_size, input_dim)
    if layer.get("class_name") == "Embedding" and "input_length" in config:
        return (batch_size, config.get("input_length"))
    return None


def _read_model(model_config: dict[str, Any]) -> tuple[list[InputSpec], list[OutputSpec]]:
    if model_config["class_name"] == "Sequential":
        return _read_sequential(model_config)
    return _read_functional(model_config)


def _read_sequential(model_config: dict[str, Any]) -> tuple[list[InputSpec], list[OutputSpec]]:
    raw_layers = layer_list(model_config)
    if not raw_layers:
        raise ConfigError("the Sequential model has no layers")
    first = raw_layers[0]
    body = raw_layers[1:] if first.get("class_name") == "InputLayer" else raw_layers
    if not body:
        raise ConfigError("the Sequential model has only an InputLayer")
    batch_shape = declared_batch_shape(first)
    if batch_shape is None and first.get("class_name") in MODEL_CLASSES:
        # Sequential([base_model, ...]): the input is the nested model's input.
        inner_inputs, _ = _read_model(first)
        batch_shape = inner_inputs[0].batch_shape if len(inner_inputs) == 1 else None
    if batch_shape is None:
        config = model_config.get("config")
        build = config.get("build_input_shape") if isinstance(config, dict) else None
        batch_shape = _shape(build)
    if batch_shape is None:
        raise ConfigError(
            "the Sequential model declares no input shape (it was never built); "
            "kerasfix needs an Input or a first layer with input_shape"
        )
    first_config = _dict(first.get("config"))
    if first.get("class_name") == "InputLayer":
        name = str(first_config.get("name") or "input_layer")
    else:  # Keras 2 named the implicit input after the first layer
        name = f"{layer_name(first)}_input"
    consumer = body[0]
    inp = InputSpec(
        name=name,
        batch_shape=batch_shape,
        dtype=_dtype(first_config),
        embeddings=_embedding_of(consumer),
        consumers=(str(consumer.get("class_name")),),
        data_format=_data_format(consumer),
    )
    layers = [
        _Layer(layer_name(r), str(r.get("class_name")), _dict(r.get("config")), r, ()) for r in body
    ]
    for previous, layer in itertools.pairwise(layers):
        layer.parents = (previous.name,)
    by_name = {layer.name: layer for layer in layers}
    return [inp], [_output_spec(layers[-1], by_name)]


def _read_functional(model_config: dict[str, Any]) -> tuple[list[InputSpec], list[OutputSpec]]:
    raw_layers = layer_list(model_config)
    layers = [
        _Layer(layer_name(r), str(r.get("class_name")), _dict(r.get("config")), r, layer_parents(r))
        for r in raw_layers
    ]
    by_name = {layer.name: layer for layer in layers}
    config = _dict(model_config.get("config"))
    input_refs = _node_refs(config.get("input_layers"))
    output_refs = _node_refs(config.get("output_layers"))
    if not input_refs:
        input_refs = [
            (layer.name, layer.name) for layer in layers if layer.class_name == "InputLayer"
        ]
    if not output_refs:
        raise ConfigError("the Functional model config names no output layers")
    children: dict[str, list[_Layer]] = {}
    for layer in layers:
        for parent in layer.parents:
            children.setdefault(parent, []).append(layer)
    inputs: list[InputSpec] = []
    keyed_inputs = isinstance(config.get("input_layers"), dict)
    for key, name in input_refs:
        if name not in by_name:
            raise ConfigError(f"the config names input layer {name!r}, which it does not define")
        layer = by_name[name]
        batch_shape = declared_batch_shape(layer.raw)
        if batch_shape is None:
            raise ConfigError(f"input layer {name!r} declares no shape")
        consumers = [c for c in children.get(name, []) if c.class_name not in _OP_LIKE]
        inputs.append(
            InputSpec(
                name=key if keyed_inputs else str(layer.config.get("name") or name),
                batch_shape=batch_shape,
                dtype=_dtype(layer.config),
                embeddings=tuple(e for c in consumers for e in _embedding_of(c.raw)),
                consumers=tuple(dict.fromkeys(c.class_name for c in consumers)),
                data_format=next(
                    (f for f in (_data_format(c.raw) for c in consumers) if f is not None), None
                ),
            )
        )
    outputs = []
    for key, name in output_refs:
        if name not in by_name:
            raise ConfigError(f"the config names output layer {name!r}, which it does not define")
        spec = _output_spec(by_name[name], by_name)
        outputs.append(dataclasses.replace(spec, name=key))
    return inputs, outputs


# Auto-generated op layers (masks, casts) that read an input without being its real consumer.
_OP_LIKE = frozenset({"NotEqual", "Cast", "Equal", "GetItem", "Shape"})


def _embedding_of(raw: dict[str, Any]) -> tuple[EmbeddingSpec, ...]:
    if raw.get("class_name") != "Embedding":
        return ()
    config = _dict(raw.get("config"))
    input_dim = config.get("input_dim")
    if not isinstance(input_dim, int):
        return ()
    output_dim = config.get("output_dim")
    return (
        EmbeddingSpec(
            layer=layer_name(raw),
            input_dim=input_dim,
            output_dim=output_dim if isinstance(output_dim, int) else None,
            mask_zero=bool(config.get("mask_zero", False)),
        ),
    )


def _data_format(raw: dict[str, Any]) -> str | None:
    value = _dict(raw.get("config")).get("data_format")
    return value if value in ("channels_first", "channels_last") else None


def _activation_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # a serialized activation function or object
        config = value.get("config")
        if isinstance(config, str):
            return config
        name = value.get("class_name")
        return str(name) if name else None
    return None


def _output_spec(layer: _Layer, by_name: dict[str, _Layer]) -> OutputSpec:
    """Units and activation from the config; the shape only where build_config states it."""
    source = layer
    activation = _activation_name(layer.config.get("activation"))
    if layer.class_name in ACTIVATION_LAYERS:
        activation = (
            "softmax" if layer.class_name == "Softmax" else activation or layer.class_name.lower()
        )
        if layer.parents and layer.parents[0] in by_name:
            source = by_name[layer.parents[0]]
    inner = source.config.get("layer") if source.class_name == "TimeDistributed" else None
    wrapped = _dict(inner.get("config")) if isinstance(inner, dict) else None
    if wrapped is not None and isinstance(inner, dict) and inner.get("class_name") == "Dense":
        # TimeDistributed(Dense): the Dense's units, on every step (a per-step head).
        units = wrapped.get("units")
        activation = activation or _activation_name(wrapped.get("activation"))
    else:
        units = source.config.get("units")
    units = units if isinstance(units, int) and not isinstance(units, bool) else None
    shape: Shape | None = None
    build_input = _shape((source.raw.get("build_config") or {}).get("input_shape"))
    if units is not None and build_input and (source.class_name == "Dense" or wrapped is not None):
        # Dense replaces the last axis with `units`; Keras states the input shape it was built on.
        shape = (*build_input[:-1], units)
    elif units is not None and build_input and source.class_name in RECURRENT_LAYERS:
        # A recurrent layer gives its last step, or every step with return_sequences.
        steps = (build_input[1],) if source.config.get("return_sequences") else ()
        shape = (build_input[0], *steps, units)
    before = by_name.get(source.parents[0]) if source.parents else None
    return OutputSpec(
        name=layer.name,
        layer_class=layer.class_name,
        shape=shape,
        units=units,
        activation=activation,
        parent=None
        if before is None
        else (before.class_name, before.name, bool(before.config.get("return_sequences"))),
    )


# --- losses ------------------------------------------------------------------------------


def canonical_loss_name(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    snake = snake.replace("k_l_", "kl_").replace("kldivergence", "kl_divergence")
    return LOSS_ALIASES.get(snake, snake)


def parse_loss(value: Any) -> LossSpec | None:
    """One loss: a string, a serialized loss object, or a serialized function."""
    if isinstance(value, str):
        return LossSpec(canonical_loss_name(value))
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        config = value.get("config")
        if value["class_name"] == "function" and isinstance(config, str):
            return LossSpec(canonical_loss_name(config))
        from_logits = config.get("from_logits") if isinstance(config, dict) else None
        ignore = config.get("ignore_class") if isinstance(config, dict) else None
        axis = config.get("axis") if isinstance(config, dict) else None
        return LossSpec(
            canonical_loss_name(value["class_name"]),
            from_logits if isinstance(from_logits, bool) else None,
            ignore if isinstance(ignore, int) and not isinstance(ignore, bool) else None,
            axis if isinstance(axis, int) and not isinstance(axis, bool) else None,
        )
    return None


def _attach_losses(outputs: list[OutputSpec], loss_config: Any) -> list[OutputSpec]:
    if loss_config is None:
        return outputs
    per_output: list[LossSpec | None]
    single = parse_loss(loss_config)
    if single is not None:
        per_output = [single] * len(outputs)
    elif isinstance(loss_config, dict):
        per_output = [parse_loss(loss_config.get(o.name)) for o in outputs]
    elif isinstance(loss_config, list):
        per_output = [parse_loss(v) for v in loss_config] + [None] * len(outputs)
    else:
        per_output = [None] * len(outputs)
    return [dataclasses.replace(o, loss=loss) for o, loss in zip(outputs, per_output, strict=False)]
