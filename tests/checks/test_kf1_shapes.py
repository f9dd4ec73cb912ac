"""The shape rules as pure functions over a contract and a header: no files, no TensorFlow."""

from __future__ import annotations

from kerasfix.checks.base import InputContext
from kerasfix.checks.kf1_shapes import check_input_shape, reshape_candidates
from kerasfix.findings import Severity
from kerasfix.loaders.base import ArrayRef
from kerasfix.model.contract import EmbeddingSpec, InputSpec, ModelContract
from kerasfix.options import DiagnoseOptions


def findings(
    batch_shape: tuple[int | None, ...],
    data: tuple[int, ...],
    consumers: tuple[str, ...] = ("Conv2D",),
    data_format: str | None = None,
    embeddings: tuple[EmbeddingSpec, ...] = (),
) -> list[tuple[str, Severity]]:
    inp = InputSpec("input_layer", batch_shape, "float32", embeddings, consumers, data_format)
    contract = ModelContract(path="m", format="keras", inputs=(inp,), outputs=())
    ref = ArrayRef(path="d.npy", key=None, shape=data, dtype="float32", kind="f")
    ctx = InputContext(contract, DiagnoseOptions(), ref, inp)
    return [(f.code, f.severity) for f in check_input_shape(ctx)]


def test_matching_shape_is_clean() -> None:
    assert findings((None, 28, 28, 1), (5, 28, 28, 1)) == []
    assert findings((None, None, 3), (5, 17, 3), ("LSTM",)) == []


def test_trailing_missing_axis_is_a_warning_keras3_adds_it() -> None:
    assert findings((None, 10, 1), (5, 10), ("LSTM",)) == [("KF101", Severity.WARNING)]


def test_inner_missing_axis_is_an_error() -> None:
    assert findings((None, 1, 10), (5, 10), ("Conv1D",), "channels_first") == [
        ("KF101", Severity.ERROR)
    ]


def test_extra_trailing_axis_is_a_warning() -> None:
    assert findings((None, 10, 3), (5, 10, 3, 1), ("LSTM",)) == [("KF102", Severity.WARNING)]


def test_extra_inner_axis_is_an_error() -> None:
    assert findings((None, 10, 3), (5, 1, 10, 3), ("LSTM",)) == [("KF102", Severity.ERROR)]


def test_channels_first_and_last() -> None:
    assert findings((None, 32, 32, 3), (5, 3, 32, 32)) == [("KF103", Severity.ERROR)]
    assert findings((None, 3, 32, 32), (5, 32, 32, 3), data_format="channels_first") == [
        ("KF103", Severity.ERROR)
    ]
    assert findings((None, 10, 3), (5, 3, 10), ("LSTM",)) == [("KF103", Severity.ERROR)]


def test_flattened_with_one_target_is_safe() -> None:
    assert findings((None, 28, 28, 1), (5, 784)) == [("KF104", Severity.ERROR)]


def test_flattened_whole_array_counts_samples() -> None:
    assert findings((None, 28, 28, 1), (784 * 3,)) == [("KF104", Severity.ERROR)]


def test_several_reshapes_are_listed_not_guessed() -> None:
    inp = InputSpec("i", (None, None, None, 1), "float32", (), ("Conv2D",))
    contract = ModelContract(path="m", format="keras", inputs=(inp,), outputs=())
    ref = ArrayRef(path="d.npy", key=None, shape=(5, 784), dtype="float32", kind="f")
    (finding,) = check_input_shape(InputContext(contract, DiagnoseOptions(), ref, inp))
    assert finding.code == "KF104"
    assert finding.applicability.value == "none"
    candidates = [tuple(c) for c in finding.details["candidates"]]
    assert (5, 28, 28, 1) in candidates and (5, 7, 112, 1) in candidates
    assert "(5, 28, 28, 1)" in finding.what and "reshapes fit" in finding.what


def test_reshape_candidates() -> None:
    assert reshape_candidates(784, (28, 28, 1)) == [(28, 28, 1)]
    assert reshape_candidates(784, (None, 28)) == [(28, 28)]
    assert len(reshape_candidates(784, (None, None, 1))) == 15  # the divisors of 784
    assert reshape_candidates(785, (28, 28, 1)) == []


def test_length_feature_and_size_are_told_apart() -> None:
    assert findings((None, 20, 3), (5, 30, 3), ("LSTM",)) == [("KF105", Severity.ERROR)]
    assert findings((None, 20, 3), (5, 20, 5), ("LSTM",)) == [("KF107", Severity.ERROR)]
    assert findings((None, 28, 28, 3), (5, 32, 32, 3)) == [("KF106", Severity.ERROR)]
    assert findings((None, 20, 3), (5, 30, 5), ("LSTM",)) == [
        ("KF105", Severity.ERROR),
        ("KF107", Severity.ERROR),
    ]


def test_token_axis_of_an_embedding_is_a_length() -> None:
    emb = (EmbeddingSpec("embedding", 10, 4, False),)
    assert findings((None, 20), (5, 12), ("Embedding",), embeddings=emb) == [
        ("KF105", Severity.ERROR)
    ]
    assert findings((None, 20), (5, 12), ("Dense",)) == [("KF107", Severity.ERROR)]


def test_single_sample_without_batch_axis() -> None:
    assert findings((None, 28, 28, 1), (28, 28, 1)) == [("KF108", Severity.ERROR)]
    assert findings((None, 784), (784,), ("Dense",)) == [("KF108", Severity.ERROR)]


def test_no_known_transform_is_kf100() -> None:
    assert findings((None, 10, 3), (5, 7, 2, 2, 2), ("LSTM",)) == [("KF100", Severity.ERROR)]
