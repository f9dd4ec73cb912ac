"""Model patches as edits of the saved config (plain data, no TensorFlow): an input's
`batch_shape`, or the loss. Whether an edit is safe is for Keras to say (model/trace.py)."""

from __future__ import annotations

import copy
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from kerasfix import safeio
from kerasfix.findings import Shape
from kerasfix.model.config import ConfigError, canonical_loss_name


@dataclass
class SavedConfig:
    """A model's config and its loss as saved, whatever the file format."""

    path: str
    format: str  # "keras", "h5", "json"
    model: dict[str, Any]
    loss: Any  # compile_config["loss"] / training_config["loss"], or None


def read_saved_config(path: str) -> SavedConfig:
    from kerasfix.model.load import parse_json_text

    head = safeio.sniff(path, 8)
    if head.startswith(safeio.ZIP_MAGIC):
        with zipfile.ZipFile(path) as archive:
            safeio.check_archive(archive)
            config = parse_json_text(safeio.read_zip_member(archive, "config.json"), "config.json")
        compile_config = config.get("compile_config") or {}
        return SavedConfig(path, "keras", config, compile_config.get("loss"))
    if safeio.is_hdf5(path):
        import h5py

        with h5py.File(path, "r") as f:
            model = parse_json_text(_text(f.attrs["model_config"]), "model_config")
            training = f.attrs.get("training_config")
        loss = parse_json_text(_text(training), "training_config").get("loss") if training else None
        return SavedConfig(path, "h5", model, loss)
    with open(path, "rb") as fh:
        return SavedConfig(path, "json", parse_json_text(fh.read(), "the JSON file"), None)


def _text(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def architecture(saved: SavedConfig) -> dict[str, Any]:
    """The model config alone (`{"class_name", "config", ...}`), without compile settings."""
    model = {k: v for k, v in saved.model.items() if k != "compile_config"}
    return model


def with_input_shape(model: dict[str, Any], input_name: str, batch_shape: Shape) -> dict[str, Any]:
    """A copy of the config whose input `input_name` declares `batch_shape`, with every layer's
    saved build shape removed so that Keras builds each layer for the new input itself."""
    patched = copy.deepcopy(model)
    config = patched.get("config")
    layers = config if isinstance(config, list) else (config or {}).get("layers", [])
    target = None
    for layer in layers:
        layer_config = layer.get("config") or {}
        if layer.get("class_name") == "InputLayer" and (
            layer_config.get("name") == input_name
            or layer.get("name") == input_name
            or patched.get("class_name") == "Sequential"
        ):
            target = layer_config
            break
    if target is None and patched.get("class_name") == "Sequential" and layers:
        target = layers[0].get("config") or {}  # Keras 2: the first layer declares the input
        for key in ("input_shape", "input_dim", "input_length"):
            target.pop(key, None)
    if target is None:
        raise ConfigError(f"no InputLayer named {input_name!r} in the config")
    target.pop("batch_input_shape", None)
    target["batch_shape"] = list(batch_shape)
    _strip_build_shapes(patched)
    return patched


def with_input_dim(model: dict[str, Any], layer_name: str, input_dim: int) -> dict[str, Any]:
    """A copy of the config whose Embedding `layer_name` takes ids in [0, input_dim)."""
    patched = copy.deepcopy(model)
    stack: list[Any] = [patched]
    found = False
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            config = node.get("config")
            if (
                node.get("class_name") == "Embedding"
                and isinstance(config, dict)
                and (config.get("name") == layer_name or node.get("name") == layer_name)
            ):
                config["input_dim"] = int(input_dim)
                node.pop("build_config", None)
                found = True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if not found:
        raise ConfigError(f"no Embedding named {layer_name!r} in the config")
    return patched


def _strip_build_shapes(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("build_config", None)
        node.pop("build_input_shape", None)
        for value in node.values():
            _strip_build_shapes(value)
    elif isinstance(node, list):
        for value in node:
            _strip_build_shapes(value)


SPARSE_TO_DENSE = {
    "sparse_categorical_crossentropy": "categorical_crossentropy",
    "categorical_crossentropy": "sparse_categorical_crossentropy",
}


def switched_loss(loss: Any, output: str, outputs: list[str], new_name: str) -> Any:
    """The saved loss with `output`'s loss replaced by `new_name` (keeping `from_logits`)."""

    def one(value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("config"), dict):
            config = dict(value["config"])
            from_logits = config.get("from_logits")
            return {
                "module": "keras.losses",
                "class_name": "".join(p.capitalize() for p in new_name.split("_")).replace(
                    "Crossentropy", "Crossentropy"
                ),
                "config": {"from_logits": bool(from_logits)} if from_logits is not None else {},
                "registered_name": None,
            }
        return new_name

    if isinstance(loss, dict) and "class_name" not in loss:
        return {k: one(v) if k == output else v for k, v in loss.items()}
    if isinstance(loss, list):
        return [one(v) if name == output else v for v, name in zip(loss, outputs, strict=False)]
    return one(loss)


def loss_name(value: Any) -> str | None:
    if isinstance(value, str):
        return canonical_loss_name(value)
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        return canonical_loss_name(value["class_name"])
    return None


def dumps(model: dict[str, Any]) -> str:
    return json.dumps(model)


def _layer_entry(model: dict[str, Any], name: str) -> dict[str, Any]:
    """The `{"class_name", "config", ...}` entry of layer `name`, nested models included:
    breadth first, so that a layer of the model itself wins over a same-named one inside a
    nested model."""
    stack: list[Any] = [model]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            config = node.get("config")
            if (
                "class_name" in node
                and isinstance(config, dict)
                and (config.get("name") == name or node.get("name") == name)
            ):
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise ConfigError(f"no layer named {name!r} in the config")


def with_architecture_edit(model: dict[str, Any], edit: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config with one KF601 edit applied (checks/kf6_architecture.py names
    them), every recorded build shape removed: Keras builds each layer for what it now gets."""
    kind, name, params = edit["kind"], str(edit["layer"]), dict(edit.get("params") or {})
    if kind == "channel_axis":
        return with_input_shape(model, name, tuple(params["batch_shape"]))
    patched = copy.deepcopy(model)
    entry = _layer_entry(patched, name)
    config = entry["config"]
    if kind == "return_sequences":
        targets = [config]
        if entry.get("class_name") == "Bidirectional":
            targets = [
                inner["config"]
                for inner in (config.get("layer"), config.get("backward_layer"))
                if isinstance(inner, dict) and isinstance(inner.get("config"), dict)
            ]
        for target in targets:
            target["return_sequences"] = True
    elif kind == "padding_same":
        config["padding"] = "same"
    elif kind == "flatten_before":
        _insert_flatten(patched, entry)
    else:
        raise ConfigError(f"unknown architecture edit {kind!r}")
    _strip_build_shapes(patched)
    return patched


def _insert_flatten(model: dict[str, Any], target: dict[str, Any]) -> None:
    """A Flatten layer that reads what `target` read, and `target` reading the Flatten."""
    name = f"flatten_before_{target['config'].get('name') or target.get('name')}"
    flatten: dict[str, Any] = {
        "module": "keras.layers",
        "class_name": "Flatten",
        "config": {"name": name, "trainable": True, "data_format": "channels_last"},
        "registered_name": None,
    }
    if "dtype" in target["config"]:
        flatten["config"]["dtype"] = copy.deepcopy(target["config"]["dtype"])
    stack: list[Any] = [model]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            layers = node.get("layers")
            if isinstance(layers, list) and any(layer is target for layer in layers):
                index = next(i for i, layer in enumerate(layers) if layer is target)
                if "inbound_nodes" in target:  # Functional: rewire the target's input
                    flatten["name"] = name
                    flatten["inbound_nodes"] = target["inbound_nodes"]
                    # A placeholder shape: Keras replaces the tensor by the Flatten's output.
                    shape = _first_tensor_shape(target["inbound_nodes"]) or [None, None]
                    target["inbound_nodes"] = [
                        {
                            "args": [
                                {
                                    "class_name": "__keras_tensor__",
                                    "config": {
                                        "shape": [shape[0], None],
                                        "dtype": "float32",
                                        "keras_history": [name, 0, 0],
                                    },
                                }
                            ],
                            "kwargs": {},
                        }
                    ]
                layers.insert(index, flatten)
                return
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise ConfigError("the layer to flatten before is in no list of layers")


def _first_tensor_shape(nodes: Any) -> list[Any] | None:
    stack: list[Any] = [nodes]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if node.get("class_name") == "__keras_tensor__":
                shape = (node.get("config") or {}).get("shape")
                return list(shape) if isinstance(shape, list) else None
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None
