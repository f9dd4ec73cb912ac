"""The command line: help for every command, options, formats, exit codes."""

from __future__ import annotations

import json

import pytest

from kerasfix import __version__
from kerasfix.checks import RULES
from kerasfix.cli import app
from tests.conftest import FIXTURES, run_cli

KF101 = FIXTURES / "KF101" / "positive"  # a warning (Keras 3 adds the axis itself)
KF107 = FIXTURES / "KF107" / "positive"  # an error


def test_every_command_has_help() -> None:
    import typer.main

    group = typer.main.get_command(app)
    assert group.commands  # type: ignore[attr-defined]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help, name
        outcome = run_cli([name, "--help"])
        assert "Usage" in outcome.stdout


def test_version() -> None:
    assert run_cli(["--version"]).stdout.strip() == f"kerasfix {__version__}"


def test_rules_lists_every_rule_as_text_and_json() -> None:
    text = run_cli(["rules"]).stdout
    data = json.loads(run_cli(["rules", "--format", "json"]).stdout)
    assert [r["code"] for r in data["rules"]] == list(RULES)
    for code, rule in RULES.items():
        assert f"{code}  {rule.name}" in text


def test_fail_on_warning_fails_on_a_warning() -> None:
    args = ["diagnose", "model.h5", "x_train.npy"]
    run_cli(args, expected_code=0, cwd=KF101)
    run_cli([*args, "--fail-on", "warning"], expected_code=1, cwd=KF101)


def test_fail_on_never_passes_errors() -> None:
    run_cli(["diagnose", "model.h5", "x.npy", "--fail-on", "never"], expected_code=0, cwd=KF107)


@pytest.mark.parametrize("token", ["KF107", "KF1", "feature-mismatch", "kf10"])
def test_ignore_by_code_prefix_or_name(token: str) -> None:
    outcome = run_cli(["diagnose", "model.h5", "x.npy", "--ignore", token], cwd=KF107)
    assert "KF107" not in outcome.stdout


def test_select_keeps_only_the_selected() -> None:
    outcome = run_cli(["diagnose", "model.h5", "x.npy", "--select", "KF3"], cwd=KF107)
    assert outcome.stdout.startswith("No problems found")


def test_select_of_an_unknown_code_is_a_usage_error() -> None:
    outcome = run_cli(["diagnose", "model.h5", "x.npy", "--select", "KF999"], 2, cwd=KF107)
    assert "names no rule" in outcome.stderr


def test_text_has_no_colour_when_not_a_terminal() -> None:
    outcome = run_cli(["diagnose", "model.h5", "x.npy"], expected_code=1, cwd=KF107)
    assert "\x1b[" not in outcome.stdout


def test_jsonl_is_one_result_per_line_then_the_summary() -> None:
    outcome = run_cli(["diagnose", "model.h5", "x.npy", "--format", "jsonl"], 1, cwd=KF107)
    lines = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert [r["path"] for r in lines[:-1]] == ["x.npy", "y.npy"]
    assert lines[-1]["summary"] == {
        "files": 2,
        "clean": 1,  # y.npy
        "errors": 1,
        "warnings": 0,
        "infos": 0,
    }


def test_github_format_annotates_the_file() -> None:
    outcome = run_cli(["diagnose", "model.h5", "x.npy", "--format", "github"], 1, cwd=KF107)
    assert outcome.stdout.startswith("::error file=x.npy,title=KF107 feature-mismatch::")


def test_json_report_has_every_field_of_the_contract() -> None:
    outcome = run_cli(["diagnose", "model.h5", "x.npy", "--format", "json"], 1, cwd=KF107)
    report = json.loads(outcome.stdout)
    assert report["schema_version"] == 2
    assert report["kerasfix_version"] == __version__
    assert report["status"] == "fail"
    model = report["model"]
    assert model["path"] == "model.h5"
    assert model["inputs"] == [
        {
            "name": "input_layer",
            "batch_shape": [None, 10, 3],
            "dtype": "float32",
            "consumers": ["Conv1D"],
            "data_format": "channels_last",
            "embeddings": [],
        }
    ]
    assert model["outputs"][0]["activation"] == "sigmoid"
    assert model["loss"] == "binary_crossentropy"
    result = report["results"][0]
    assert {"path", "key", "input", "findings"} <= result.keys()
    finding = result["findings"][0]
    assert {
        "code",
        "name",
        "severity",
        "what",
        "why",
        "fix",
        "applicability",
        "expected",
        "received",
    } <= finding.keys()
    assert finding["expected"] == [None, 10, 3]
    assert finding["received"] == [20, 10, 5]
    assert set(report["summary"]) == {"files", "clean", "errors", "warnings", "infos"}


def test_inspect_shows_the_contract() -> None:
    outcome = run_cli(["inspect", str(FIXTURES / "seed" / "embedding" / "model.keras")])
    assert "batch_shape=(None, 4)" in outcome.stdout
    assert "embedding 'embedding': input_dim=10 (token ids in [0, 10))" in outcome.stdout
    assert "loss=binary_crossentropy" in outcome.stdout
    data = json.loads(
        run_cli(
            ["inspect", str(FIXTURES / "seed" / "embedding" / "model.keras"), "--format", "json"]
        ).stdout
    )
    assert data["inputs"][0]["embeddings"][0]["input_dim"] == 10


def test_no_data_checks_the_model_alone() -> None:
    outcome = run_cli(["diagnose", str(FIXTURES / "KF304" / "positive" / "model.keras")])
    assert "KF304 warning  fixed-batch-size" in outcome.stdout
    assert outcome.stdout.rstrip().endswith("1 warning in the model.")


def test_y_file_pairs_labels_with_any_x() -> None:
    folder = FIXTURES / "KF107" / "negative"
    outcome = run_cli(
        ["diagnose", "model.h5", "x.npy", "--y-file", "y.npy", "--format", "json"], 0, cwd=folder
    )
    report = json.loads(outcome.stdout)
    assert [(r["path"], r["role"]) for r in report["results"]] == [("x.npy", "x"), ("y.npy", "y")]
    assert report["summary"]["files"] == 2


def test_folder_data_is_recursed_in_sorted_order() -> None:
    outcome = run_cli(
        ["diagnose", "model.keras", ".", "--format", "json"], 1, cwd=FIXTURES / "KF001" / "positive"
    )
    paths = [r["path"] for r in json.loads(outcome.stdout)["results"]]
    assert paths == sorted(paths)
    assert any(p.endswith("broken.npy") for p in paths)
    assert any(p.endswith("train.npz") for p in paths)


def test_a_kerasfix_bug_exits_3_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from kerasfix import api

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(api, "run_diagnosis", broken)
    outcome = run_cli(["diagnose", "model.h5", "x.npy"], 3, cwd=KF107)
    assert outcome.stderr.strip() == (
        "kerasfix: internal error: ZeroDivisionError: division by zero "
        "(a kerasfix bug; rerun with --traceback and report it)"
    )
    with_trace = run_cli(["diagnose", "model.h5", "x.npy", "--traceback"], 3, cwd=KF107)
    assert "Traceback" in with_trace.stderr


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    from kerasfix import api

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "run_diagnosis", interrupted)
    outcome = run_cli(["diagnose", "model.h5", "x.npy"], 130, cwd=KF107)
    assert outcome.stderr.strip() == "kerasfix: interrupted"


@pytest.mark.tensorflow
def test_stderr_stays_clean_when_a_check_imports_tensorflow() -> None:
    """KF105 asks Keras whether the model could be patched, in a worker of a folder run: the
    import's C++ chatter (cudart_stub, absl) must not reach stderr."""
    from tests.conftest import run_subprocess

    case = FIXTURES / "KF105" / "positive"
    done = run_subprocess(
        # --file-timeout: the file runs in a worker process, as in a folder run.
        ["diagnose", "model.keras", "train.npz", "--file-timeout", "120", "--format", "json"],
        cwd=case,
    )
    assert done.returncode == 1, done.stderr
    assert "KF105" in done.stdout and "patchable" in done.stdout
    assert done.stderr == ""
