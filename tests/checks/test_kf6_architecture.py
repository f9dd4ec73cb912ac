"""KF601: architectures Keras cannot build, the layer named, the cause and the fix.

The fixtures (fixtures/KF601/, built by fixtures/architectures.py) are real configs made of
Keras's own layers; tests/test_fixtures.py checks every golden report against the live CLI.
Here: each broken fixture names the right layer, no healthy one is flagged, Keras really raises
the stored text, explain puts KF601/KF602 first for it, and repair's edits build and train.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerasfix.checks.kf6_architecture import explain_break
from kerasfix.explain import explain_text
from kerasfix.model.architecture import LayerBreak, LayerNode, clean_keras_message
from tests.conftest import FIXTURES, run_cli

CASES = sorted(p.parent for p in (FIXTURES / "KF601").glob("*/case.json"))
BROKEN = [c for c in CASES if json.loads((c / "case.json").read_text())["expect"]["layer"]]
HEALTHY = [c for c in CASES if c not in BROKEN]


def _case(folder: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((folder / "case.json").read_text())
    return case


def _kf601(folder: Path) -> list[dict[str, Any]]:
    report = json.loads((folder / "expected.json").read_text())
    return [f for r in report["results"] for f in r["findings"] if f["code"] == "KF601"]


def test_the_fixtures_cover_25_breaks_and_10_healthy_look_alikes() -> None:
    assert len(BROKEN) >= 25
    assert len(HEALTHY) >= 10


@pytest.mark.parametrize("folder", BROKEN, ids=[p.name for p in BROKEN])
def test_kf601_names_the_layer_that_breaks(folder: Path) -> None:
    expect = _case(folder)["expect"]
    (finding,) = _kf601(folder)
    assert finding["details"]["layer"] == expect["layer"]
    assert finding["severity"] == "error"
    assert f"'{expect['layer']}'" in finding["what"]
    assert finding["why"] and finding["fix"]
    # One clear edit is offered exactly where the catalogue says one is right.
    assert ("edit" in finding["details"]) == expect["edit"], finding["details"]


@pytest.mark.parametrize("folder", HEALTHY, ids=[p.name for p in HEALTHY])
def test_healthy_look_alikes_have_no_finding(folder: Path) -> None:
    report = json.loads((folder / "expected.json").read_text())
    assert [f for r in report["results"] for f in r["findings"]] == []


def test_a_model_that_does_not_build_exits_1_on_its_own(tmp_path: Path) -> None:
    folder = FIXTURES / "KF601" / "positive"
    outcome = run_cli(["diagnose", "model.json"], expected_code=1, cwd=folder)
    assert "model.json  KF601 error  layer-chain-break" in outcome.stdout
    assert "layer 'lstm_1' (LSTM) cannot take (None, 8)" in outcome.stdout
    assert "return_sequences=True on 'lstm'" in outcome.stdout
    assert "no DATA was given: the model was checked alone" in outcome.stdout


def test_a_healthy_model_alone_exits_0_and_says_no_data_was_given() -> None:
    folder = FIXTURES / "KF601" / "negative"
    outcome = run_cli(["diagnose", "model.json", "--format", "json"], cwd=folder)
    report = json.loads(outcome.stdout)
    assert report["status"] == "pass"
    assert report["notes"] == ["no DATA was given: the model was checked alone"]


def test_no_trace_says_what_it_could_not_check() -> None:
    folder = FIXTURES / "KF601" / "positive"
    outcome = run_cli(["diagnose", "model.json", "--no-trace"], expected_code=0, cwd=folder)
    assert "KF601 not checked (--no-trace)" in outcome.stdout
    assert "No problems found in the model (2 notes above)." in outcome.stdout


def test_data_that_breaks_a_model_which_builds_says_which_side_should_change() -> None:
    folder = FIXTURES / "KF601" / "break-data-images-too-small"
    (finding,) = _kf601(folder)
    assert finding["what"].startswith("with the data's shape (None, 6, 6, 3) for input 'image'")
    assert "the data should change: samples of (12, 12, 3) (or larger) build" in finding["fix"]
    assert "padding='same' on 'conv2d_1'" in finding["fix"]
    assert finding["details"]["fits"] == {"image": [None, 12, 12, 3]}


# --- the catalogue of causes, without Keras ------------------------------------------------


def _node(name: str, cls: str, parents: tuple[str, ...] = (), **config: Any) -> LayerNode:
    return LayerNode(name, cls, config, parents)


def test_an_lstm_after_an_lstm_is_return_sequences_through_a_dropout() -> None:
    graph = {
        "x": _node("x", "InputLayer"),
        "a": _node("a", "LSTM", ("x",), return_sequences=False),
        "d": _node("d", "Dropout", ("a",)),
        "b": _node("b", "LSTM", ("d",)),
    }
    brk = LayerBreak(
        "b",
        "LSTM",
        ((None, 8),),
        "expected ndim=3, found ndim=2",
        "ValueError",
        input_spec={"ndim": 3},
    )
    cause = explain_break(brk, graph, {"x": (None, 10, 3)})
    assert cause.id == "recurrent-without-return-sequences"
    assert cause.edit is not None and cause.edit.layer == "a"


def test_a_conv2d_on_an_input_without_channels_adds_the_axis_where_the_layer_reads_it() -> None:
    for data_format, expected in (
        ("channels_last", [None, 28, 28, 1]),
        ("channels_first", [None, 1, 28, 28]),
    ):
        graph = {
            "x": _node("x", "InputLayer"),
            "c": _node("c", "Conv2D", ("x",), data_format=data_format),
        }
        brk = LayerBreak(
            "c", "Conv2D", ((None, 28, 28),), "", "ValueError", input_spec={"min_ndim": 4}
        )
        cause = explain_break(brk, graph, {"x": (None, 28, 28)})
        assert cause.edit is not None
        assert cause.edit.params["batch_shape"] == expected


def test_a_reshape_lists_the_targets_that_hold_the_values_and_chooses_none() -> None:
    brk = LayerBreak(
        "r",
        "Reshape",
        ((None, 784),),
        "The total size of the tensor must be unchanged. Received: input_shape=(784,), "
        "target_shape=(28, 28, 3)",
        "ValueError",
    )
    cause = explain_break(brk, {"r": _node("r", "Reshape")}, {})
    assert cause.id == "reshape-element-count"
    assert cause.edit is None
    assert cause.candidates == ("(28, 28, 1)",)


def test_keras_3_messages_are_read_without_their_escapes_and_call_context() -> None:
    text = (
        "\x1b[1mException encountered when calling Reshape.call().\x1b[0m\n\n\x1b[1mThe total "
        "size of the tensor must be unchanged. Received: input_shape=(784,), "
        "target_shape=(28, 28, 3)\x1b[0m\n\nArguments received by Reshape.call():"
        "\n  • args=('<KerasTensor shape=(None, 784)>',)"
    )
    assert clean_keras_message(text) == (
        "The total size of the tensor must be unchanged. Received: input_shape=(784,), "
        "target_shape=(28, 28, 3)"
    )
    assert explain_text(text)[0].code == "KF601"


# --- what Keras itself says, and explain --------------------------------------------------


@pytest.mark.parametrize("folder", BROKEN, ids=[p.name for p in BROKEN])
def test_explain_puts_kf601_first_for_the_text_keras_raises(folder: Path) -> None:
    text = _case(folder)["keras_error"]
    assert text, "the fixture records what Keras raises"
    matches = explain_text(text)
    assert matches and matches[0].code in ("KF601", "KF602"), [m.code for m in matches]


@pytest.mark.tensorflow
def test_keras_raises_the_stored_text_for_every_broken_fixture() -> None:
    from kerasfix.model.quiet import import_keras

    keras = import_keras()
    for folder in CASES:
        case = _case(folder)
        path = folder / case["model"]
        keras.backend.clear_session()
        raised = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if path.suffix == ".json":
                    model = keras.models.model_from_json(path.read_text())
                else:
                    model = keras.saving.load_model(path, compile=False)
                for name in case["data"]:
                    if name.endswith(".jsonl"):
                        rows = (folder / name).read_text().splitlines()[:2]
                        x = np.array([json.loads(r)["x"] for r in rows], dtype="float32")
                    else:
                        x = np.load(folder / name)["x"][:2]
                    model.predict(x, verbose=0)
            except Exception as exc:  # what a user sees
                raised = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
        expected = case["keras_error"]
        if expected is None:
            assert raised is None, f"{folder.name}: {raised}"
        else:
            # TensorFlow numbers its graph nodes per process: compare the words before them.
            assert raised is not None, folder.name
            assert _words(raised) == _words(expected), folder.name


def _words(text: str) -> str:
    return clean_keras_message(text).splitlines()[0].split(" for '")[0]


# --- repair ------------------------------------------------------------------------------


EDITABLE = [c for c in BROKEN if _case(c)["expect"]["edit"]]


@pytest.mark.parametrize("folder", EDITABLE, ids=[p.name for p in EDITABLE])
def test_repair_writes_a_model_that_builds_and_trains_one_step(
    folder: Path, tmp_path: Path
) -> None:
    case = _case(folder)
    out = tmp_path / "fixed"
    run_cli(
        ["repair", case["model"], *case["data"], "--out", str(out), "--unsafe-fixes"],
        expected_code=None,
        cwd=folder,
    )
    manifest = json.loads((out / "kerasfix-repair.json").read_text())
    check = manifest["model_patch"]["check"]
    assert check["builds"] and check["trains"], check
    if case["data"]:
        assert check["maps_data"] is True
    assert manifest["verification"]["status"] == "pass"
    assert (out / case["model"]).is_file()
    # The repaired model builds: diagnose finds no KF601 in it.
    again = run_cli(
        ["diagnose", str(out / case["model"]), "--format", "json"], cwd=folder, expected_code=None
    )
    codes = {f["code"] for r in json.loads(again.stdout)["results"] for f in r["findings"]}
    assert "KF601" not in codes


def test_repair_without_unsafe_fixes_lists_the_edit_and_writes_no_model(tmp_path: Path) -> None:
    folder = FIXTURES / "KF601" / "positive"
    outcome = run_cli(
        ["repair", "model.json", "--out", str(tmp_path / "out")], expected_code=1, cwd=folder
    )
    assert "KF601 edit_architecture: return_sequences=True on 'lstm'" in outcome.stdout
    assert not (tmp_path / "out" / "model.json").exists()


def test_repair_of_an_edited_keras_file_keeps_every_weight_the_edit_did_not_change(
    tmp_path: Path,
) -> None:
    folder = FIXTURES / "KF601" / "break-edited-keras"
    out = tmp_path / "fixed"
    run_cli(["repair", "model.keras", "--out", str(out), "--unsafe-fixes"], cwd=folder)
    check = json.loads((out / "kerasfix-repair.json").read_text())["model_patch"]["check"]
    # return_sequences changes no weight shape: every layer's weights come from the file.
    assert check["weights"] == {"kept": ["decoder", "dense", "encoder"], "initialized": []}


def test_every_cause_a_finding_names_is_in_its_rules_documented_catalogue() -> None:
    from kerasfix.checks import RULES

    for folder in sorted(FIXTURES.glob("KF60[12]/*")):
        report = json.loads((folder / "expected.json").read_text())
        for finding in (f for r in report["results"] for f in r["findings"]):
            documented = {c for c, _, _ in RULES[finding["code"]].causes}
            assert finding["details"]["cause"] in documented, (folder.name, finding)


KERAS3_LSTM_TEXT = (
    "Input 0 with name 'None' of layer 'lstm' is incompatible with the layer: expected ndim=3, "
    "found ndim=2. Full shape received: (None, 10)"
)


def test_explain_lists_both_readings_of_a_named_layer_without_a_model() -> None:
    codes = [m.code for m in explain_text(KERAS3_LSTM_TEXT)]
    assert codes[:2] == ["KF601", "KF101"]


def test_explain_with_the_model_decides_the_first_layer_is_the_datas_door() -> None:
    folder = FIXTURES / "seed" / "lstm"
    outcome = run_cli(
        [
            "explain",
            KERAS3_LSTM_TEXT,
            "--model",
            "model.keras",
            "--data",
            "x.npy",
            "--format",
            "json",
        ],
        cwd=folder,
    )
    matches = json.loads(outcome.stdout)["matches"]
    assert matches[0]["code"] == "KF101"
    assert matches[0]["confirmed"] == ["x.npy"]


def test_explain_with_the_model_puts_the_confirmed_inner_break_first() -> None:
    folder = FIXTURES / "KF601" / "break-conv1d-after-lstm"
    text = _case(folder)["keras_error"]
    outcome = run_cli(["explain", text, "--model", "model.json", "--format", "json"], cwd=folder)
    matches = json.loads(outcome.stdout)["matches"]
    assert matches[0]["code"] == "KF601"
    assert matches[0]["confirmed"] == ["model.json"]


# --- review findings (issue 13): edges outside the fixture catalogue -----------------------


def test_data_shapes_no_trace_cannot_check_are_a_note_not_a_pass() -> None:
    folder = FIXTURES / "KF601" / "break-data-images-too-small"
    outcome = run_cli(
        ["diagnose", "model.keras", "train.npz", "--no-trace"], expected_code=0, cwd=folder
    )
    assert "KF601 not checked for the data's shapes" in outcome.stdout
    assert "(--no-trace)" in outcome.stdout
    assert outcome.stdout.rstrip().endswith("(1 note above).")


def test_a_run_that_does_not_select_kf601_builds_nothing() -> None:
    folder = FIXTURES / "KF601" / "positive"
    outcome = run_cli(["diagnose", "model.json", "--select", "KF1", "--format", "json"], cwd=folder)
    report = json.loads(outcome.stdout)
    assert report["results"] == []
    assert not any("Keras" in note for note in report["notes"])


def test_a_break_no_single_edit_fixes_is_listed_as_not_repaired(tmp_path: Path) -> None:
    folder = FIXTURES / "KF601" / "break-flatten-of-any-size"
    outcome = run_cli(
        ["repair", "model.json", "--out", str(tmp_path / "out"), "--unsafe-fixes"],
        expected_code=1,
        cwd=folder,
    )
    assert "not repaired" in outcome.stdout
    assert "model.json KF601 layer-chain-break" in outcome.stdout
    manifest = json.loads((tmp_path / "out" / "kerasfix-repair.json").read_text())
    assert [e["code"] for e in manifest["not_repaired"]] == ["KF601"]


def test_an_edit_that_moves_the_break_to_a_later_layer_is_a_candidate_only(
    tmp_path: Path,
) -> None:
    """padding='same' on the first convolution that goes below zero, where the pooling after it
    then breaks: Keras is asked before the edit is offered."""
    import shutil

    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / "KF601" / "break-data-images-too-small", folder)
    x = np.random.default_rng(0).random((4, 5, 5, 3), dtype=np.float32)
    np.savez(folder / "train.npz", x=x, y=np.zeros(4, dtype=np.int32))
    outcome = run_cli(
        ["diagnose", "model.keras", "train.npz", "--format", "json"], expected_code=1, cwd=folder
    )
    (finding,) = [f for r in json.loads(outcome.stdout)["results"] for f in r["findings"]]
    assert finding["code"] == "KF601"
    assert "edit" not in finding["details"]
    assert "alone breaks a later layer" in finding["fix"]
    assert any("padding='same'" in c for c in finding["details"]["candidates"])


def test_an_architecture_repaired_on_class_id_labels_trains_with_a_fitting_loss(
    tmp_path: Path,
) -> None:
    import shutil

    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / "KF601" / "break-conv2d-without-channel", folder)
    rng = np.random.default_rng(0)
    np.savez(
        folder / "train.npz",
        x=rng.random((8, 28, 28), dtype=np.float32),
        y=rng.integers(0, 10, 8).astype(np.int32),
    )
    run_cli(
        ["repair", "model.json", "train.npz", "--out", str(tmp_path / "out"), "--unsafe-fixes"],
        cwd=folder,
    )
    check = json.loads((tmp_path / "out" / "kerasfix-repair.json").read_text())["model_patch"][
        "check"
    ]
    assert check["maps_data"] is True and check["trains"] is True, check


def test_explain_reads_flattened_one_hot_labels_as_kf213() -> None:
    text = (
        "InvalidArgumentError: logits and labels must have the same first dimension, got "
        "logits shape [32,3] and labels shape [96]"
    )
    assert [m.code for m in explain_text(text)][:2] == ["KF213", "KF215"]


@pytest.mark.parametrize(
    "text",
    [
        'Input 0 of layer [1m"lstm_1"[0m is incompatible with the layer: expected ndim=3, '
        "found ndim=2.",
        'Input 0 of layer \\x1b[1m"lstm_1"\\x1b[0m is incompatible with the layer: expected '
        "ndim=3, found ndim=2.",
    ],
)
def test_explain_reads_texts_whose_escapes_a_paste_mangled(text: str) -> None:
    assert explain_text(text)[0].code == "KF601"
