"""The explain catalogue: every entry's example, both Keras generations per rule, values pulled
from the text, and texts about other errors left unclaimed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerasfix.checks import RULES
from kerasfix.checks.catalog import ALL_CODES
from kerasfix.explain import explain_text
from kerasfix.explain.catalog import CATALOGUE
from kerasfix.report.ruledocs import rule_page
from tests.conftest import FIXTURES, ROOT, run_cli

# What each entry's own example must explain, first.
EXAMPLE_CODES = {
    "k3-invalid-input-shape": "KF100",
    "input-spec-ndim": "KF101",
    "input-spec-shape": "KF104",
    "input-spec-axis": "KF107",
    "keras2-checking-input-shape": "KF107",
    "keras2-checking-input-ndim": "KF101",
    "tf1-cannot-feed": "KF108",
    "tf-rank-at-least": "KF101",
    "k3-lstm-unknown-rank": "KF107",
    "tf-depth-filter": "KF107",
    "tf-reshape-values": "KF106",
    "tf-negative-dimension": "KF601",
    "tf-indices-not-in": "KF201",
    "tf-embedding-float-ids": "KF203",
    "tf-label-value": "KF211",
    "k3-sparse-rank": "KF213",
    "tf-squeeze-dim": "KF213",
    "k3-target-output": "KF214",
    "tf-shapes-incompatible": "KF214",
    "tf-logits-labels": "KF214",
    "keras2-target-categorical": "KF214",
    "keras2-target-array": "KF214",
    "keras2-checking-target": "KF214",
    "np-string-to-float": "KF222",
    "tf-unsupported-object": "KF401",
    "k3-invalid-dtype": "KF222",
    "k3-cardinality": "KF301",
    "tf-cardinality": "KF301",
    "keras2-first-dimension": "KF301",
    "k3-stateful-batch": "KF302",
    "keras2-stateful-divisible": "KF302",
    "tf-incompatible-batch": "KF302",
    "k3-unrecognized-list": "KF401",
    "tf-non-rectangular": "KF401",
    "np-ragged-nested": "KF401",
    "np-inhomogeneous": "KF401",
    "tf-data-batch-shapes": "KF401",
    "k3-lambda-safe-mode": "KF003",
    "unknown-layer": "KF003",
    # Inside the model (issue 13).
    "keras2-input-spec-ndim": "KF601",
    "k3-output-size-negative": "KF601",
    "tf-output-dimension-downsampling": "KF601",
    "k3-cropping-too-large": "KF601",
    "k3-kernel-shape-length": "KF601",
    "k3-reshape-total-size": "KF601",
    "keras2-reshape-total-size": "KF601",
    "tf-cannot-reshape": "KF106",
    "concatenate-shapes": "KF601",
    "tf-concat-dimension": "KF601",
    "merge-incompatible": "KF601",
    "dot-axes": "KF601",
    "dense-undefined-last-dim": "KF601",
    "timedistributed-rank": "KF601",
    "tf-matmul-dimensions": "KF107",
    "tf-op-rank": "KF601",
    "tf-logits-labels-first-dim": "KF602",
}


def test_every_entry_has_a_tested_example() -> None:
    assert {p.id for p in CATALOGUE} == set(EXAMPLE_CODES)
    assert len({p.id for p in CATALOGUE}) == len(CATALOGUE)
    for pattern in CATALOGUE:
        assert pattern.code is None or pattern.code in ALL_CODES
        assert pattern.versions


@pytest.mark.parametrize("pattern", CATALOGUE, ids=[p.id for p in CATALOGUE])
def test_entry_example_explains_its_rule(pattern: object) -> None:
    matches = explain_text(pattern.example)  # type: ignore[attr-defined]
    assert matches, pattern
    assert matches[0].code == EXAMPLE_CODES[pattern.id]  # type: ignore[attr-defined]


# Per rule with a runtime error: the Keras 3 text and the tf.keras 2.x text.
BOTH_GENERATIONS = {
    "KF100": [
        "Invalid input shape for input Tensor(\"x:0\") with name 'input_layer' and path ''. "
        "Expected shape (None, 10, 3), but input has incompatible shape (None, 7, 2, 2, 2)",
        'Input 0 of layer "model" is incompatible with the layer: expected shape=(None, 10, 3), '
        "found shape=(None, 7, 2, 2, 2)",
    ],
    "KF101": [
        "Input 0 with name 'x' of layer 'conv1d' is incompatible with the layer: expected "
        "ndim=3, found ndim=2. Full shape received: (None, 10)",
        "Input 0 of layer lstm is incompatible with the layer: expected ndim=3, found ndim=2. "
        "Full shape received: (None, 10)",
    ],
    "KF102": [
        "Invalid input shape for input x with name 'i' and path ''. Expected shape "
        "(None, 10, 3), but input has incompatible shape (None, 1, 10, 3)",
        'Input 0 of layer "sequential" is incompatible with the layer: expected '
        "shape=(None, 10, 3), found shape=(None, 1, 10, 3)",
    ],
    "KF103": [
        "Input 0 with name 'input_layer' of layer 'functional' is incompatible with the layer: "
        "expected shape=(None, 8, 8, 3), found shape=(4, 3, 8, 8)",
        'Input 0 of layer "model" is incompatible with the layer: expected '
        "shape=(None, 224, 224, 3), found shape=(None, 3, 224, 224)",
    ],
    "KF104": [
        "Invalid input shape for input x with name 'i' and path ''. Expected shape "
        "(None, 28, 28, 1), but input has incompatible shape (None, 784)",
        'Input 0 of layer "sequential" is incompatible with the layer: expected '
        "shape=(None, 28, 28, 1), found shape=(None, 784)",
    ],
    "KF105": [
        "Invalid input shape for input x with name 'tokens' and path ''. Expected shape "
        "(None, 20, 8), but input has incompatible shape (None, 35, 8)",
        'Input 0 of layer "model" is incompatible with the layer: expected '
        "shape=(None, 20, 8), found shape=(None, 35, 8)",
    ],
    "KF106": [
        "Invalid input shape for input x with name 'image' and path ''. Expected shape "
        "(None, 28, 28, 3), but input has incompatible shape (None, 32, 32, 3)",
        'Input 0 of layer "model" is incompatible with the layer: expected '
        "shape=(None, 28, 28, 3), found shape=(None, 32, 32, 3)",
    ],
    "KF107": [
        "Input 0 with name 'None' of layer 'conv1d' is incompatible with the layer: expected "
        "axis -1 of input shape to have value 3, but received input with shape (None, 20, 5)",
        "Input 0 of layer dense is incompatible with the layer: expected axis -1 of input "
        "shape to have value 784 but received input with shape (None, 100)",
    ],
    "KF108": [
        "Invalid input shape for input x with name 'i' and path ''. Expected shape "
        "(None, 784), but input has incompatible shape (784,)",
        'Input 0 of layer "sequential" is incompatible with the layer: expected '
        "shape=(None, 28, 28, 1), found shape=(28, 28, 1)",
    ],
    "KF201": [
        "Graph execution error: ... indices[0,0] = 150 is not in [0, 100)\n [[{{node "
        "functional/embedding/GatherV2}}]]",
        "InvalidArgumentError:  indices[1038,1] = 509 is not in [0, 500)\n\t [[node "
        "sequential/embedding/embedding_lookup]]",
    ],
    "KF202": [
        "Graph execution error: indices[0,3] = -1 is not in [0, 10)\n [[{{node "
        "functional/embedding/GatherV2}}]]",
        "InvalidArgumentError:  indices[2,0] = -1 is not in [0, 5000)\n\t [[node "
        "sequential/embedding/embedding_lookup]]",
    ],
    "KF211": [
        "Received a label value of 12 which is outside the valid range of [0, 10).  Label "
        "values: 12 3",
        "InvalidArgumentError:  Received a label value of 5 which is outside the valid range "
        "of [0, 5).  Label values: 5 1 0",
    ],
    "KF213": [
        "Argument `output` must have rank (ndim) `target.ndim - 1`. Received: "
        "target.shape=(None, 10), output.shape=(None, 10)",
        "InvalidArgumentError: Can not squeeze dim[1], expected a dimension of 1, got 10",
    ],
    "KF214": [
        "Arguments `target` and `output` must have the same rank (ndim). Received: "
        "target.shape=(None,), output.shape=(None, 10)",
        "ValueError: Shapes (None, 1) and (None, 10) are incompatible",
    ],
    "KF215": [
        "Arguments `target` and `output` must have the same shape. Received: "
        "target.shape=(None, 3), output.shape=(None, 1)",
        "ValueError: Shapes (None, 3) and (None, 1) are incompatible",
    ],
    "KF222": [
        "ValueError: Invalid dtype: str96",
        "ValueError: Failed to convert a NumPy array to a Tensor (Unsupported object type str).",
    ],
    "KF301": [
        "Data cardinality is ambiguous. Make sure all arrays contain the same number of "
        "samples.'x' sizes: 8\n'y' sizes: 6\n",
        "Data cardinality is ambiguous:\n  x sizes: 30000\n  y sizes: 50000\nMake sure all "
        "arrays contain the same number of samples.",
    ],
    "KF302": [
        "If an RNN is stateful, the batch size of the input sequences must be the same as the "
        "batch size of the initial state. \n- Expected batch size: 4\n- Received batch size: 1",
        "InvalidArgumentError: Incompatible shapes: [2,16] vs. [4,16]\n\t [[{{node "
        "gradient_tape/sequential/lstm/BroadcastGradientArgs}}]]",
    ],
    "KF401": [
        "ValueError: Unrecognized data type: x=[[1, 2, 3], [1, 2]] (of type <class 'list'>)",
        "ValueError: Failed to convert a NumPy array to a Tensor (Unsupported object type list).",
    ],
    "KF003": [
        "Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. "
        "This carries a potential risk of arbitrary code execution",
        "ValueError: Unknown layer: 'ScaleLayer'. Please ensure you are using a "
        "`keras.utils.custom_object_scope`",
    ],
}


@pytest.mark.parametrize(
    ("code", "text"),
    [(code, text) for code, texts in BOTH_GENERATIONS.items() for text in texts],
)
def test_keras3_and_tf_keras_texts_map_to_the_rule(code: str, text: str) -> None:
    assert explain_text(text)[0].code == code


def test_values_are_pulled_from_the_text() -> None:
    (index,) = explain_text("indices[3,1] = 12 is not in [0, 10)")
    assert index.values == {"position": [3, 1], "index": 12, "input_dim": 10}
    (label, *_) = explain_text(
        "Received a label value of 10 which is outside the valid range of [0, 10)."
    )
    assert label.values == {"label": 10, "units": 10}
    assert {
        m.code
        for m in explain_text(
            "Received a label value of 10 which is outside the valid range of [0, 10)."
        )
    } == {"KF211", "KF212"}
    (shape,) = explain_text(
        "Cannot feed value of shape (19,) for Tensor 'Placeholder:0', which has shape '(?, 19)'"
    )
    assert shape.values["found"] == [19] and shape.values["expected"] == [None, 19]
    (card, *_) = explain_text(
        "Data cardinality is ambiguous:\n  x sizes: 30000\n  y sizes: 50000\n"
    )
    assert card.values == {"x_sizes": [30000], "y_sizes": [50000]}


NOT_OURS = [
    "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor "
    "with shape[1024,1024,64] and type float on /job:localhost/replica:0/task:0/device:GPU:0",
    "FileNotFoundError: [Errno 2] No such file or directory: 'data/train.npy'",
    "Epoch 3/10\n 12/100 [==>....] - loss: nan - accuracy: 0.1000",
    "Batch 12: Invalid loss, terminating training",
    "TypeError: Adam.__init__() got an unexpected keyword argument 'lr'",
    "ModuleNotFoundError: No module named 'tensorflow'",
    "ValueError: No gradients provided for any variable: (['dense/kernel:0'],).",
    "ValueError: Unknown loss function: 'custom_loss'. Please ensure you are using a "
    "`keras.utils.custom_object_scope`",
    "AttributeError: 'Sequential' object has no attribute 'predict_classes'",
    "ValueError: You must call `compile()` before using the model.",
    "ImportError: cannot import name 'pad_sequences' from 'keras.preprocessing.sequence'",
    "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x89 in position 0: invalid start byte",
    "PermissionError: [Errno 13] Permission denied: 'model.keras'",
    "OSError: Unable to open file (file signature not found)",
    "ValueError: The filepath provided must end in `.keras` (Keras model format). "
    "Received: filepath=model",
    "UnknownError: Failed to get convolution algorithm. This is probably because cuDNN failed "
    "to initialize",
    "InternalError: CUDA runtime implicit initialization on GPU:0 failed. Status: out of memory",
    "ValueError: Layer count mismatch when loading weights from file. Model expected 4 layers, "
    "found 3 saved layers.",
    "KeyError: 'val_accuracy'",
    "RuntimeError: Detected a call to `Model.fit` inside a `tf.function`.",
    "ValueError: Cannot convert '('a', 'b')' to a shape.",
    # Shape words in other contexts: weight loading, a custom op, a matmul.
    "ValueError: Shapes (128, 3) and (200, 3) are incompatible",
    "InvalidArgumentError: Incompatible shapes: [4,3] vs. [2,3] [Op:AddV2]",
    "ValueError: Shape must be rank 2 but is rank 3 for '{{node MatMul}} = MatMul[T=DT_FLOAT]'",
    "ValueError: Shapes (batch, 1) and (None, 10) are incompatible",
    "tensorflow.python.framework.errors_impl.NotFoundError: Could not find directory checkpoints",
]


@pytest.mark.parametrize("text", NOT_OURS)
def test_other_errors_are_not_claimed(text: str) -> None:
    assert explain_text(text) == []


def test_a_whole_traceback_is_searched() -> None:
    log = (
        'Traceback (most recent call last):\n  File "train.py", line 40, in <module>\n'
        '    model.fit(x, y)\n  File ".../keras/src/utils/traceback_utils.py", line 122\n'
        "ValueError: Exception encountered when calling Sequential.call().\n\n"
        'Input 0 of layer "conv2d" is incompatible with the layer: expected axis -1 of input '
        "shape to have value 1, but received input with shape (None, 28, 28, 3)\n"
    )
    assert explain_text(log)[0].code == "KF107"


def test_explain_code_prints_the_rule_page() -> None:
    outcome = run_cli(["explain", "KF101"])
    assert outcome.stdout == rule_page(RULES["KF101"])
    assert "## Why it matters" in outcome.stdout
    assert "not checked by this version" in run_cli(["explain", "kf603"]).stdout.lower()
    run_cli(["explain", "KF999"], 2)


def test_explain_text_json_and_exit_codes(tmp_path: Path) -> None:
    outcome = run_cli(["explain", "indices[3,1] = 12 is not in [0, 10)", "--format", "json"])
    data = json.loads(outcome.stdout)
    assert data["schema_version"] == 1
    (match,) = data["matches"]
    assert {"code", "name", "confidence", "values", "fix"} <= match.keys()
    assert match["code"] == "KF201" and match["values"]["input_dim"] == 10
    none = run_cli(["explain", "OOM when allocating tensor", "--format", "json"], 1)
    assert json.loads(none.stdout)["matches"] == []
    log = tmp_path / "train.log"
    log.write_text("epoch 1\nValueError: Shapes (None, 1) and (None, 10) are incompatible\n")
    assert "KF214" in run_cli(["explain", "--log", str(log)]).stdout
    run_cli(["explain"], 2)


def test_explain_reads_stdin() -> None:
    from typer.testing import CliRunner

    from kerasfix.cli import app

    result = CliRunner().invoke(app, ["explain", "-"], input="Invalid dtype: object\n")
    assert result.exit_code == 0 and "KF401" in result.stdout


def test_explain_confirms_with_diagnose() -> None:
    folder = FIXTURES / "KF201" / "positive"
    outcome = run_cli(
        [
            "explain",
            "indices[2,3] = 10 is not in [0, 10)",
            "--model",
            str(folder / "model.keras"),
            "--data",
            str(folder / "x.npy"),
        ]
    )
    assert "confirmed by diagnose in: " in outcome.stdout and "x.npy" in outcome.stdout


def test_rule_docs_pages_are_current() -> None:
    folder = ROOT / "docs" / "rules"
    for code, rule in RULES.items():
        page = folder / f"{code}.md"
        assert page.is_file(), f"run: python -m kerasfix.report.ruledocs docs/rules ({code})"
        assert page.read_text() == rule_page(rule), f"docs/rules/{code}.md is stale"
    assert sorted(p.stem for p in folder.glob("KF*.md")) == sorted(RULES)


def test_a_long_log_is_searched_in_linear_time() -> None:
    import time

    line = "Invalid input shape for input Tensor x; Data cardinality is ambiguous. arbitrary code "
    start = time.perf_counter()
    assert explain_text((line + "execution\n") * 20_000) == []
    assert time.perf_counter() - start < 10


def test_a_missing_log_is_a_usage_error(tmp_path: Path) -> None:
    outcome = run_cli(["explain", "--log", str(tmp_path / "nope.log")], 2)
    assert "nope.log" in outcome.stderr


def test_an_inner_dense_axis_message_lists_length_and_size_too() -> None:
    text = (
        "Input 0 of layer 'dense_4' is incompatible with the layer: expected axis -1 of input "
        "shape to have value 36, but received input with shape (8, 66)"
    )
    assert [m.code for m in explain_text(text)] == ["KF107", "KF105", "KF106"]
