"""Contracts of models built and saved by the real Keras (these tests import TensorFlow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kerasfix.model import load_contract
from kerasfix.model.known_classes import KNOWN_KERAS_CLASSES

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def keras():  # type: ignore[no-untyped-def]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras as k

    return k


def test_known_classes_are_real_keras_classes(keras) -> None:  # type: ignore[no-untyped-def]
    import inspect

    from keras.src.ops.operation import Operation

    real = {n for n, o in vars(keras.layers).items() if inspect.isclass(o)}
    real |= {o.__name__ for o in vars(keras.layers).values() if inspect.isclass(o)}
    missing = {
        name
        for name in KNOWN_KERAS_CLASSES - real - {"Sequential", "Functional", "Model"}
        if not any(name == cls.__name__ for cls in _subclasses(Operation))
    }
    assert not missing


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    stack = [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def test_multi_input_multi_output_with_loss_dict(keras, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tokens = keras.Input((5,), name="tokens", dtype="int32")
    meta = keras.Input((3,), name="meta")
    h = keras.layers.LSTM(4)(keras.layers.Embedding(20, 4, mask_zero=True)(tokens))
    h = keras.layers.Concatenate()([h, meta])
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    model = keras.Model([tokens, meta], [cls, reg])
    model.compile(
        loss={"cls": keras.losses.SparseCategoricalCrossentropy(from_logits=False), "reg": "mse"}
    )
    path = tmp_path / "m.keras"
    model.save(path)
    contract = load_contract(str(path))
    assert [i.name for i in contract.inputs] == ["tokens", "meta"]
    assert contract.inputs[0].embeddings[0].input_dim == 20
    assert contract.inputs[0].embeddings[0].mask_zero
    assert contract.inputs[1].embeddings == ()
    outputs = {o.name: o for o in contract.outputs}
    assert outputs["cls"].shape == (None, 3)
    assert outputs["cls"].loss is not None and outputs["cls"].loss.from_logits is False
    assert outputs["reg"].loss is not None and outputs["reg"].loss.name == "mean_squared_error"


def test_savedmodel_signature_is_read(keras, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = keras.Sequential([keras.Input((10, 3)), keras.layers.LSTM(2), keras.layers.Dense(1)])
    export = tmp_path / "exported"
    model.export(str(export), verbose=False)
    contract = load_contract(str(export))
    assert contract.format == "savedmodel"
    assert contract.inputs[0].batch_shape == (None, 10, 3)
    assert contract.inputs[0].dtype == "float32"
