"""Reading a contract from config data alone: Keras 3 and Keras 2 formats, losses, safety."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kerasfix.errors import ModelReadError
from kerasfix.model import load_contract
from kerasfix.model.config import (
    MAX_CONFIG_DEPTH,
    ConfigError,
    canonical_loss_name,
    contract_from_config,
    parse_loss,
)


def keras2_sequential(first_layer: dict[str, Any]) -> dict[str, Any]:
    return {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_1",
            "layers": [
                first_layer,
                {
                    "class_name": "Dense",
                    "config": {"name": "out", "units": 4, "activation": "softmax"},
                },
            ],
        },
    }


@pytest.mark.parametrize(
    ("first_config", "batch_shape"),
    [
        ({"batch_input_shape": [None, 10, 1]}, (None, 10, 1)),
        ({"input_shape": [10, 1]}, (None, 10, 1)),
        ({"input_shape": [10, 1], "batch_size": 8}, (8, 10, 1)),
        ({"batch_shape": [None, 10, 1]}, (None, 10, 1)),
    ],
)
def test_sequential_without_input_layer_takes_the_first_layers_shape(
    first_config: dict[str, Any], batch_shape: tuple[int | None, ...]
) -> None:
    config = keras2_sequential(
        {"class_name": "LSTM", "config": {"name": "lstm_1", "units": 4, **first_config}}
    )
    contract = contract_from_config(config, path="m.json", fmt="json")
    assert contract.inputs[0].batch_shape == batch_shape
    assert contract.inputs[0].name == "lstm_1_input"
    assert contract.inputs[0].consumers == ("LSTM",)


def test_dense_input_dim_declares_the_input() -> None:
    config = keras2_sequential({"class_name": "Dense", "config": {"name": "d", "input_dim": 784}})
    assert contract_from_config(config, path="m", fmt="json").inputs[0].batch_shape == (None, 784)


def test_keras2_embedding_with_input_length() -> None:
    config = keras2_sequential(
        {
            "class_name": "Embedding",
            "config": {"name": "emb", "input_dim": 10, "output_dim": 32, "input_length": 4},
        }
    )
    inp = contract_from_config(config, path="m", fmt="json").inputs[0]
    assert inp.batch_shape == (None, 4)
    assert inp.embeddings[0].input_dim == 10


def test_keras2_functional_with_list_style_inbound_nodes() -> None:
    config = {
        "class_name": "Model",
        "config": {
            "name": "model",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "tokens",
                    "config": {"batch_input_shape": [None, 20], "dtype": "int32", "name": "tokens"},
                    "inbound_nodes": [],
                },
                {
                    "class_name": "Embedding",
                    "name": "emb",
                    "config": {"name": "emb", "input_dim": 500, "mask_zero": True},
                    "inbound_nodes": [[["tokens", 0, 0, {}]]],
                },
                {
                    "class_name": "Dense",
                    "name": "out",
                    "config": {"name": "out", "units": 3, "activation": "softmax"},
                    "inbound_nodes": [[["emb", 0, 0, {}]]],
                },
            ],
            "input_layers": [["tokens", 0, 0]],
            "output_layers": [["out", 0, 0]],
        },
    }
    contract = contract_from_config(
        config, path="m", fmt="h5", loss_config="sparse_categorical_crossentropy"
    )
    (inp,) = contract.inputs
    assert inp.dtype == "int32"
    assert inp.embeddings[0].input_dim == 500 and inp.embeddings[0].mask_zero
    assert contract.outputs[0].units == 3
    assert contract.outputs[0].loss is not None
    assert contract.outputs[0].loss.name == "sparse_categorical_crossentropy"


@pytest.mark.parametrize(
    ("value", "name", "from_logits"),
    [
        ("mse", "mean_squared_error", None),
        ("categorical_crossentropy", "categorical_crossentropy", None),
        (
            {
                "module": "keras.losses",
                "class_name": "SparseCategoricalCrossentropy",
                "config": {"from_logits": True},
            },
            "sparse_categorical_crossentropy",
            True,
        ),
        ({"class_name": "function", "config": "binary_crossentropy"}, "binary_crossentropy", None),
        ({"class_name": "KLDivergence", "config": {}}, "kl_divergence", None),
    ],
)
def test_losses_are_read_as_strings_classes_or_functions(
    value: Any, name: str, from_logits: bool | None
) -> None:
    loss = parse_loss(value)
    assert loss is not None
    assert (loss.name, loss.from_logits) == (name, from_logits)


def test_canonical_loss_names() -> None:
    assert canonical_loss_name("BinaryCrossentropy") == "binary_crossentropy"
    assert canonical_loss_name("MeanSquaredError") == "mean_squared_error"


def _with_layer(layer: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 4], "name": "input_layer"},
                },
                layer,
            ],
        },
    }


def _function(name: str, module: str = "builtins") -> dict[str, Any]:
    return {
        "module": module,
        "class_name": "function",
        "config": name,
        "registered_name": "function",
    }


def _lambda(function: Any) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": "lam", "function": function},
    }


# (layer, words of the reason, runs code: KF003 error; else a custom object: KF003 warning)
UNSAFE_CASES = {
    "lambda-without-function": (
        {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lam"}},
        "code",
        True,
    ),
    "bytecode": ({"class_name": "__lambda__", "config": {"code": "4wEAAA"}}, "bytecode", True),
    "lambda-bytecode": (_lambda({"class_name": "__lambda__", "config": {}}), "bytecode", True),
    "lambda-around-a-keras-builtin": (_lambda(_function("relu")), "Keras's 'relu'", False),
    "lambda-around-get-file": (_lambda(_function("get_file")), "'get_file'", True),
    "lambda-around-plot-model": (
        _lambda(_function("plot_model", "keras.utils")),
        "'plot_model'",
        True,
    ),
    "lambda-around-eval": (_lambda(_function("eval")), "Python's built-in 'eval'", True),
    "lambda-around-a-registered-function": (
        _lambda(_function("MyPkg>shift")),
        "'MyPkg>shift'",
        False,
    ),
    "keras2-lambda-bytecode": (
        {
            "class_name": "Lambda",
            "config": {
                "name": "lam",
                "function": ["4wEAAA", None, None],
                "function_type": "lambda",
            },
        },
        "bytecode",
        True,
    ),
    "custom-class-of-a-user-module": (
        {"module": "my_project.layers", "class_name": "Scale", "config": {"name": "scale"}},
        "my_project.layers",
        False,
    ),
    "registered-custom-class": (
        {
            "module": None,
            "class_name": "Scale",
            "registered_name": "Custom>Scale",
            "config": {"name": "scale"},
        },
        "Custom>Scale",
        False,
    ),
    "keras2-custom-layer": (
        {"class_name": "ScaleLayer", "config": {"name": "scale"}},
        "not a built-in",
        False,
    ),
    "vocabulary-file": (
        {
            "module": "keras.layers",
            "class_name": "StringLookup",
            "config": {"name": "lookup", "vocabulary": "/etc/passwd"},
        },
        "names a file",
        True,
    ),
    "os-system": ({"module": "os", "class_name": "system", "config": {"name": "x"}}, "'os'", True),
    "stdlib-class": (
        {"module": "subprocess", "class_name": "Popen", "config": {"name": "x"}},
        "outside Keras",
        True,
    ),
    "function-shaped-class-of-a-foreign-module": (
        {"module": "evil_pkg", "class_name": "run", "config": {"name": "x"}},
        "not a class",
        True,
    ),
    "registered-under-a-stdlib-package": (
        {"class_name": "X", "registered_name": "os>X", "config": {"name": "x"}},
        "outside Keras",
        True,
    ),
    "tfsmlayer": (
        {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/tmp/sm"}},
        "SavedModel",
        True,
    ),
    "torch-module": (
        {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {}},
        "PyTorch",
        True,
    ),
    "gadget-as-a-class": (
        {"module": "keras.utils", "class_name": "get_file", "config": {"origin": "http://x"}},
        "'get_file'",
        True,
    ),
}


@pytest.mark.parametrize(
    ("layer", "reason", "runs_code"), UNSAFE_CASES.values(), ids=UNSAFE_CASES.keys()
)
def test_code_in_a_config_is_reported_never_imported(
    layer: dict[str, Any], reason: str, runs_code: bool
) -> None:
    contract = contract_from_config(_with_layer(layer), path="m", fmt="keras")
    assert len(contract.unsafe_layers) == 1, contract.unsafe_layers
    assert reason in contract.unsafe_layers[0].reason
    assert contract.unsafe_layers[0].runs_code is runs_code


def test_code_hidden_in_a_custom_class_config_is_found() -> None:
    """A custom class is entered (its own warning), so bytecode inside it is an error too."""
    layer = {
        "class_name": "Scale",
        "registered_name": "Custom>Scale",
        "config": {"name": "scale", "fn": {"class_name": "__lambda__", "config": {}}},
    }
    contract = contract_from_config(_with_layer(layer), path="m", fmt="keras")
    assert sorted((u.class_name, u.runs_code) for u in contract.unsafe_layers) == [
        ("Scale", False),
        ("__lambda__", True),
    ]


def test_builtin_layers_are_safe() -> None:
    layer = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 1}}
    assert contract_from_config(_with_layer(layer), path="m", fmt="keras").unsafe_layers == ()


def test_stateful_layers_are_found() -> None:
    layer = {
        "module": "keras.layers",
        "class_name": "LSTM",
        "config": {"name": "rnn", "stateful": True, "units": 2},
    }
    assert contract_from_config(_with_layer(layer), path="m", fmt="keras").stateful_layers == (
        "rnn",
    )


def test_deeply_nested_config_is_refused(tmp_path: Path) -> None:
    nested: Any = {"class_name": "Dense", "config": {}}
    for _ in range(MAX_CONFIG_DEPTH + 5):
        nested = {"config": nested}
    with pytest.raises(ConfigError, match="deeper"):
        contract_from_config(_with_layer(nested), path="m", fmt="keras")
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelReadError):
        load_contract(str(path))


def test_architecture_json_that_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"class_name": "Dense", "config": {}}))
    with pytest.raises(ModelReadError, match="not a Sequential or Functional"):
        load_contract(str(path))


def test_unbuilt_sequential_says_why(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(keras2_sequential({"class_name": "Dense", "config": {"units": 2}})))
    with pytest.raises(ModelReadError, match="declares no input shape"):
        load_contract(str(path))
