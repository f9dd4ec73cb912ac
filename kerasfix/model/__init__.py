"""The model's data contract, read from the saved file's config without TensorFlow."""

from kerasfix.model.contract import (
    EmbeddingSpec,
    InputSpec,
    LossSpec,
    ModelContract,
    OutputSpec,
    UnsafeLayer,
)
from kerasfix.model.load import load_contract

__all__ = [
    "EmbeddingSpec",
    "InputSpec",
    "LossSpec",
    "ModelContract",
    "OutputSpec",
    "UnsafeLayer",
    "load_contract",
]
