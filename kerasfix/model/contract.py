"""What a model declares about the data it takes: inputs, outputs, losses, batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kerasfix.findings import Shape


def format_shape(shape: Shape | None) -> str:
    """A shape as Keras prints it: `(None, 10, 1)`, `(32,)`."""
    if shape is None:
        return "unknown"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


@dataclass(frozen=True)
class EmbeddingSpec:
    """An Embedding layer that reads token ids straight from an input."""

    layer: str
    input_dim: int
    output_dim: int | None
    mask_zero: bool


@dataclass(frozen=True)
class InputSpec:
    name: str
    batch_shape: Shape
    dtype: str
    embeddings: tuple[EmbeddingSpec, ...] = ()
    # Classes of the layers that read this input first (LSTM, Conv2D, ...), for messages.
    consumers: tuple[str, ...] = ()
    # "channels_first" / "channels_last" where a consumer declares it, else None.
    data_format: str | None = None

    @property
    def ndim(self) -> int:
        return len(self.batch_shape)

    @property
    def sample_shape(self) -> Shape:
        return self.batch_shape[1:]

    @property
    def batch_size(self) -> int | None:
        return self.batch_shape[0] if self.batch_shape else None

    @property
    def reads_token_ids(self) -> bool:
        return bool(self.embeddings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "batch_shape": list(self.batch_shape),
            "dtype": self.dtype,
            "consumers": list(self.consumers),
            "data_format": self.data_format,
            "embeddings": [
                {
                    "layer": e.layer,
                    "input_dim": e.input_dim,
                    "output_dim": e.output_dim,
                    "mask_zero": e.mask_zero,
                }
                for e in self.embeddings
            ],
        }


@dataclass(frozen=True)
class LossSpec:
    """One output's loss: a canonical snake_case name plus `from_logits` where declared."""

    name: str
    from_logits: bool | None = None
    # A label value the loss skips (SparseCategoricalCrossentropy(ignore_class=-1)).
    ignore_class: int | None = None
    # The axis the loss reduces over, where its config states one (CategoricalCrossentropy's
    # `axis`, -1 by default: the classes).
    axis: int | None = None

    def to_dict(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": self.name,
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
        }
        if self.axis not in (None, -1):
            described["axis"] = self.axis
        return described


@dataclass(frozen=True)
class OutputSpec:
    name: str
    layer_class: str
    # None where the config alone does not say (Keras would have to build the layer).
    shape: Shape | None
    units: int | None
    activation: str | None
    loss: LossSpec | None = None
    # The layer the head reads: (class name, layer name, whether it returns every step), for
    # naming the fix when the head keeps a time or spatial axis the labels do not have.
    parent: tuple[str, str, bool] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layer_class": self.layer_class,
            "shape": None if self.shape is None else list(self.shape),
            "units": self.units,
            "activation": self.activation,
            "loss": None if self.loss is None else self.loss.to_dict(),
        }


@dataclass(frozen=True)
class UnsafeLayer:
    """A layer or object whose config needs code to run: Lambda, custom classes, file paths."""

    name: str
    class_name: str
    reason: str
    # True where loading runs code that is neither Keras's nor the user's own registered
    # classes: the file's bytecode, the standard library, a gadget, a path (KF003 error);
    # False for a custom class only the user's code supplies (KF003 warning).
    runs_code: bool = True


@dataclass(frozen=True)
class ModelContract:
    path: str
    format: str  # "keras", "h5", "json" or "savedmodel"
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    stateful_layers: tuple[str, ...] = ()
    unsafe_layers: tuple[UnsafeLayer, ...] = ()
    keras_version: str | None = None
    compiled: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    # The file proves Keras built this architecture for its declared inputs: saved with its
    # weights (and, for .keras, with build shapes that match the declared inputs).
    proven_buildable: bool = False

    @property
    def fixed_batch_size(self) -> int | None:
        """The batch size the inputs fix (`batch_shape[0]`), if any input fixes one."""
        sizes = {i.batch_size for i in self.inputs if i.batch_size is not None}
        return min(sizes) if sizes else None

    @property
    def stateful(self) -> bool:
        return bool(self.stateful_layers)

    @property
    def adapts_input_rank(self) -> bool:
        """Whether loading this model gives Keras 3's Functional input adapter, which adds or
        drops a trailing size-1 axis itself. A SavedModel signature and a model saved by
        Keras 2 (which users load with Keras 2 / tf.keras) do not."""
        if self.format == "savedmodel":
            return False
        return not (self.keras_version or "").startswith(("1.", "2."))

    def input_named(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def loss_summary(self) -> Any:
        losses = {o.name: o.loss.name for o in self.outputs if o.loss is not None}
        if not losses:
            return None
        if len(self.outputs) == 1:
            return next(iter(losses.values()))
        return losses

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": [o.to_dict() for o in self.outputs],
            "loss": self.loss_summary(),
            "fixed_batch_size": self.fixed_batch_size,
            "stateful_layers": list(self.stateful_layers),
            "unsafe_layers": [
                {"name": u.name, "class_name": u.class_name, "reason": u.reason}
                for u in self.unsafe_layers
            ],
            "keras_version": self.keras_version,
        }
