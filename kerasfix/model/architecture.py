"""The model's inside, as plain data: what Keras's build of an architecture found (layer by
layer shapes, or the first layer that breaks), whether a saved file already proves that the
model builds, and the layer graph a config declares. Nothing here imports Keras: the build
itself runs in a child process (model/build.py, through model/keras_child.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kerasfix.findings import Shape
from kerasfix.model.config import (
    MODEL_CLASSES,
    declared_batch_shape,
    layer_list,
    layer_name,
    layer_parents,
)


@dataclass(frozen=True)
class LayerShapes:
    """One call of one layer in the built model: the shapes it took and gave."""

    name: str
    class_name: str
    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    # The nested models it sits in, outermost first (empty for a layer of the model itself).
    path: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_name": self.class_name,
            "path": list(self.path),
            "inputs": [list(s) for s in self.inputs],
            "outputs": [list(s) for s in self.outputs],
        }


@dataclass(frozen=True)
class LayerBreak:
    """The first layer Keras could not build or call, what it received, and Keras's words."""

    name: str | None  # None: Keras failed, but not in one layer (a broken graph)
    class_name: str | None
    received: tuple[Shape, ...]
    message: str  # Keras's message, ANSI escapes and call-context lines removed
    error: str  # the exception's type
    path: tuple[str, ...] = ()
    # The layer's InputSpec as Keras declares it (ndim, min_ndim, max_ndim, axes), if any.
    input_spec: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        if self.name is None:
            return "the model's graph"
        inside = "".join(f" inside '{p}'" for p in reversed(self.path))
        return f"layer '{self.name}' ({self.class_name}){inside}"


@dataclass(frozen=True)
class BuildOutcome:
    """Keras's answer for one architecture with one set of input shapes."""

    input_shapes: dict[str, Shape]
    layers: tuple[LayerShapes, ...] = ()
    broken: LayerBreak | None = None
    outputs: tuple[Shape, ...] = ()
    # Keras built it, but could not infer shapes through some layer: nothing to say.
    unsupported: str | None = None

    @property
    def built(self) -> bool:
        return self.broken is None and self.unsupported is None


@dataclass(frozen=True)
class ModelBuild:
    """What the run knows of the model's inside: Keras's build for the declared inputs (None
    when it was not asked, or could not answer: `note` says why), and the layer graph."""

    outcome: BuildOutcome | None
    graph: dict[str, LayerNode]
    note: str | None = None
    # Whether Keras built the architecture with the break's one clear edit (None: not asked).
    edit_builds: bool | None = None


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clean_keras_message(text: str) -> str:
    """Keras 3's message without its ANSI escapes and the call-context wrapper lines
    ("Exception encountered when calling X.call()", "Arguments received by ...")."""
    text = ANSI.sub("", text)
    kept: list[str] = []
    for line in text.strip().splitlines():
        stripped = line.strip()
        if stripped.startswith("Arguments received by"):
            break
        if not stripped or stripped.startswith("Exception encountered when calling"):
            continue
        kept.append(stripped)
    return "\n".join(kept) or text.strip()


# TensorFlow's suffixes naming the graph node and the traced function: internal signatures.
_TF_SIGNATURES = re.compile(r"\s*(\[\[\{\{node [^\]]*\]\]|\[Op:[^\]]*\])")


def keras_error_line(text: str) -> str:
    """The line of a Keras or TensorFlow error that says what went wrong, as Keras words it:
    without Keras 3's call-context wrapper and argument list, TensorFlow's "Graph execution
    error" header, the traceback of the node it was detected at, and the node and op
    signatures after the message. '' where the text holds no such line."""
    lines = ANSI.sub("", text).splitlines()
    in_trace = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("Arguments received by"):
            break
        if stripped.startswith("Detected at node"):
            in_trace = True  # "defined at (most recent call last):", then File lines
            continue
        if in_trace and (not stripped or stripped.startswith("File ") or line[:1].isspace()):
            continue
        in_trace = False
        message = _TF_SIGNATURES.sub("", stripped).strip()
        if not message or message.startswith(
            ("Exception encountered when calling", "Graph execution error")
        ):
            continue
        return message
    return ""


# --- does the saved file already prove that the model builds? ----------------------------


def proven_buildable(model_config: dict[str, Any], holds_weights: bool) -> bool:
    """A `.keras` file that Keras saved with weights, whose recorded build shapes are the ones
    its inputs declare: Keras built exactly this architecture for those inputs before saving
    it. An edited config (another input shape, no build record) proves nothing."""
    if not holds_weights:
        return False
    try:
        return _records_declared_inputs(model_config)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        return False


# Layers that hold weights: Keras records the shapes it built each of them for (a layer with
# no weights, a pooling or an activation, records none).
WEIGHTED = re.compile(
    r"Dense|Conv|LSTM|GRU|RNN|Embedding|Normalization|PReLU|Bidirectional|Attention"
)


def _records_declared_inputs(model: dict[str, Any]) -> bool:
    config = model.get("config")
    layers = layer_list(model)
    if any(
        WEIGHTED.search(str(raw.get("class_name"))) and "build_config" not in raw
        for raw in layers
        if raw.get("class_name") not in MODEL_CLASSES
    ):
        return False  # a layer with weights but no record of its build: an edited config
    if model.get("class_name") == "Sequential":
        build = (model.get("build_config") or {}).get("input_shape")
        if not isinstance(build, list) or not layers:
            return False
        declared = declared_batch_shape(layers[0])
        if declared is None or tuple(build) != declared:
            return False
    else:
        inputs = {
            layer_name(raw): declared_batch_shape(raw)
            for raw in layers
            if raw.get("class_name") == "InputLayer"
        }
        recorded = _recorded_input_shapes(layers)
        if not inputs or set(recorded) != set(inputs):
            return False
        for name, shapes in recorded.items():
            if any(shape != inputs[name] for shape in shapes):
                return False
        if not isinstance(config, dict):
            return False
    if _records_contradict_configs(model, layers):
        return False  # a layer's arguments no longer give what its consumer was built on
    nested = [raw for raw in layers if raw.get("class_name") in MODEL_CLASSES]
    return all(_records_declared_inputs(raw) for raw in nested)


# Layers that hand on the shape they get: a consumer's record describes the layer before them.
_KEEPS_SHAPE = re.compile(
    r"^(Dropout|SpatialDropout\dD|GaussianNoise|GaussianDropout|AlphaDropout|Activation|ReLU|"
    r"LeakyReLU|PReLU|ELU|Softmax|Masking|ActivityRegularization|BatchNormalization|"
    r"LayerNormalization|GroupNormalization|UnitNormalization|Rescaling|Identity)$"
)


def _records_contradict_configs(model: dict[str, Any], layers: list[dict[str, Any]]) -> bool:
    """Whether a layer's own arguments contradict the shape its consumer recorded for it: an
    LSTM whose `return_sequences` was flipped, a Dense whose `units`, a Reshape whose
    `target_shape` was edited after Keras built and saved the model. Only what the config
    states is compared with what Keras recorded; no shape is computed."""
    by_name = {layer_name(raw): raw for raw in layers}
    if model.get("class_name") == "Sequential":
        body = [raw for raw in layers if raw.get("class_name") != "InputLayer"]
        pairs = []
        for index, raw in enumerate(body[1:], start=1):
            record = (raw.get("build_config") or {}).get("input_shape")
            producer = index - 1
            while producer > 0 and _KEEPS_SHAPE.match(str(body[producer].get("class_name"))):
                producer -= 1
            if isinstance(record, list) and record and not isinstance(record[0], list):
                pairs.append((body[producer], tuple(record)))
        return any(_contradicts(raw, shape) for raw, shape in pairs)
    stack: list[Any] = [raw.get("inbound_nodes") for raw in layers]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                tensor = item.get("config") or {}
                history = tensor.get("keras_history") or []
                source = by_name.get(history[0]) if history else None
                shape = tensor.get("shape")
                if (
                    source is not None
                    and isinstance(shape, list)
                    and _contradicts(source, tuple(shape))
                ):
                    return True
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _agrees(dim: Any, value: Any) -> bool:
    return dim is None or value is None or dim == value


def _contradicts(raw: dict[str, Any], shape: Shape) -> bool:
    """Whether `shape` (recorded for this layer's output) contradicts its config."""
    cls = str(raw.get("class_name"))
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    assert isinstance(config, dict)
    if not shape:
        return False
    if cls == "Bidirectional":
        inner = config.get("layer")
        config = inner.get("config", {}) if isinstance(inner, dict) else {}
        if config.get("return_state"):
            return False
        rank = 3 if config.get("return_sequences") else 2
        return len(shape) != rank
    if cls in ("LSTM", "GRU", "SimpleRNN"):
        if config.get("return_state"):
            return False
        rank = 3 if config.get("return_sequences") else 2
        return len(shape) != rank or not _agrees(shape[-1], config.get("units"))
    if cls == "Dense":
        return not _agrees(shape[-1], config.get("units"))
    if re.fullmatch(r"Conv\dD(Transpose)?|SeparableConv\dD", cls):
        axis = 1 if config.get("data_format") == "channels_first" else -1
        return not _agrees(shape[axis], config.get("filters"))
    if cls == "Embedding":
        return not _agrees(shape[-1], config.get("output_dim"))
    if cls == "Reshape":
        target = config.get("target_shape")
        if not isinstance(target, list | tuple) or len(target) != len(shape) - 1:
            return isinstance(target, list | tuple)
        return any(t != -1 and not _agrees(d, t) for d, t in zip(shape[1:], target, strict=True))
    if cls == "Flatten" or (cls.startswith("Global") and not config.get("keepdims")):
        return len(shape) != 2
    if cls == "InputLayer":
        declared = declared_batch_shape(raw)
        return declared is not None and (
            len(declared) != len(shape)
            or not all(_agrees(a, b) for a, b in zip(declared, shape, strict=True))
        )
    return False


def _recorded_input_shapes(layers: list[dict[str, Any]]) -> dict[str, list[Shape]]:
    """The shapes a Functional config records for the tensors its InputLayers give."""
    inputs = {layer_name(raw) for raw in layers if raw.get("class_name") == "InputLayer"}
    found: dict[str, list[Shape]] = {}
    stack: list[Any] = [raw.get("inbound_nodes") for raw in layers]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                tensor = item.get("config") or {}
                history = tensor.get("keras_history") or []
                if history and history[0] in inputs and isinstance(tensor.get("shape"), list):
                    found.setdefault(history[0], []).append(tuple(tensor["shape"]))
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


# --- the layer graph a config declares ----------------------------------------------------


@dataclass(frozen=True)
class LayerNode:
    name: str
    class_name: str
    config: dict[str, Any]
    parents: tuple[str, ...]
    path: tuple[str, ...] = ()  # the nested models it sits in
    # For wrappers (Bidirectional, TimeDistributed): the wrapped layer's class.
    inner_class: str | None = None


def layer_graph(model_config: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, LayerNode]:
    """Every layer of the model and of the models nested in it, by name, with the layers it
    reads from (a Sequential's previous layer, a Functional's inbound layers)."""
    nodes: dict[str, LayerNode] = {}
    sequential = model_config.get("class_name") == "Sequential"
    previous: str | None = None
    for raw in layer_list(model_config):
        name = layer_name(raw)
        class_name = str(raw.get("class_name"))
        config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
        assert isinstance(config, dict)
        parents: tuple[str, ...]
        if sequential:
            parents = (previous,) if previous is not None else ()
        else:
            parents = layer_parents(raw)
        inner = config.get("layer")
        inner_class = inner.get("class_name") if isinstance(inner, dict) else None
        nodes[name] = LayerNode(
            name, class_name, config, parents, path, str(inner_class) if inner_class else None
        )
        previous = name
    # Nested models' layers after the model's own: a same name means the outer layer.
    for raw in layer_list(model_config):
        if str(raw.get("class_name")) in MODEL_CLASSES:
            for inner_name, node in layer_graph(raw, (*path, layer_name(raw))).items():
                nodes.setdefault(inner_name, node)
    return nodes


# Layers whose output size depends on the concrete sizes they get (windows, crops, reshapes,
# merges of branches that pooled differently): a model with None-sized inputs may build, yet
# break for small or odd concrete sizes.
SIZE_SENSITIVE = re.compile(
    r"^(Conv\dD|Conv\dDTranspose|SeparableConv\dD|DepthwiseConv\dD|ConvLSTM\dD|"
    r"(Max|Average)Pooling\dD|Cropping\dD|Reshape|Concatenate|Add|Subtract|Multiply|Average|"
    r"Maximum|Minimum|Dot|LocallyConnected\dD)$"
)


def size_sensitive_layers(graph: dict[str, LayerNode]) -> list[str]:
    return [
        name
        for name, node in graph.items()
        if SIZE_SENSITIVE.match(node.class_name)
        or (node.inner_class is not None and SIZE_SENSITIVE.match(node.inner_class))
    ]
