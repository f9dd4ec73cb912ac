"""What scripts and CI rely on: an empty export is an error, an interrupted run says so in
every format, SARIF for code-scanning UIs, and the JSON report's published schema."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import FIXTURES, ROOT, run_cli
from tests.test_folders import MODEL, _held, _kerasfix, _shards

DENSE = FIXTURES / "KF221" / "negative" / "model.keras"  # Input (6,) -> Dense(1), mse


def test_an_array_with_no_samples_is_an_error_not_a_pass(tmp_path: Path) -> None:
    np.savez(tmp_path / "train.npz", x=np.zeros((0, 6), np.float32), y=np.zeros(0, np.float32))
    outcome = run_cli(["diagnose", str(DENSE), str(tmp_path / "train.npz")], 1)
    assert "KF303 error  batch-larger-than-data" in outcome.stdout
    assert "'x', 'y' hold 0 samples: not one batch to train on" in outcome.stdout
    assert "No problems found" not in outcome.stdout


def test_a_lone_empty_npy_and_a_header_only_table_are_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((0, 6), np.float32))
    (tmp_path / "t.csv").write_text("a,b,c,d,e,f,label\n")
    for name in ("x.npy", "t.csv"):
        outcome = run_cli(["diagnose", str(DENSE), str(tmp_path / name), "--format", "json"], 1)
        report = json.loads(outcome.stdout)
        [finding] = [f for r in report["results"] for f in r["findings"]]
        assert (finding["code"], finding["severity"], finding["received"]) == ("KF303", "error", 0)
        assert report["status"] == "fail"


def test_an_empty_array_beside_full_ones_fails_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "a.npz", x=np.ones((8, 6), np.float32), y=np.ones(8, np.float32))
    np.savez(data / "b.npz", x=np.zeros((0, 6), np.float32), y=np.zeros(0, np.float32))
    report = json.loads(run_cli(["diagnose", str(DENSE), str(data), "--format", "json"], 1).stdout)
    flagged = {r["path"] for r in report["results"] if r["findings"]}
    assert flagged == {str(data / "b.npz")}


# --- Ctrl-C: an interrupted run says so in every format, with what it did and did not check


def _interrupted(tmp_path: Path, output_format: str, sig: int = signal.SIGINT) -> tuple[str, Path]:
    """A real folder run stopped while its last file's reader is blocked: three shards
    finished, the held one not."""
    data = tmp_path / "data"
    _shards(data, 3)
    held = data / "zz-held.npz"
    with _held(held) as reader_blocked:
        proc = _kerasfix("diagnose", MODEL, str(data), "--format", output_format, "--jobs", "1")
        reader_blocked()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    return out, held


def test_interrupted_json_report_is_never_a_pass(tmp_path: Path) -> None:
    out, held = _interrupted(tmp_path, "json")
    report = json.loads(out)
    assert report["status"] == "interrupted"
    finished = [str(tmp_path / "data" / f"shard-{i:04d}.npz") for i in range(3)]
    assert report["interrupted"] == {"files_finished": finished, "files_not_reached": [str(held)]}
    assert report["summary"]["errors"] == 0  # the files finished are clean: still no pass
    _validate(report)


def test_interrupted_jsonl_summary_says_interrupted(tmp_path: Path) -> None:
    out, held = _interrupted(tmp_path, "jsonl", signal.SIGTERM)
    *results, summary = (json.loads(line) for line in out.splitlines())
    assert len(results) == 6  # x and y of the three finished shards
    assert summary["status"] == "interrupted"
    assert summary["interrupted"]["files_not_reached"] == [str(held)]
    assert len(summary["interrupted"]["files_finished"]) == 3


def test_interrupted_text_report_names_the_files_not_reached(tmp_path: Path) -> None:
    out, held = _interrupted(tmp_path, "text")
    lines = out.splitlines()
    assert lines[-2] == "No problems found in the 3 files finished."
    assert lines[-1] == f"Interrupted: 3 of 4 DATA files finished; not reached: {held}."
    assert "No problems found in 3 files." not in out


def test_interrupted_github_annotations_end_with_an_error(tmp_path: Path) -> None:
    out, held = _interrupted(tmp_path, "github")
    last = out.splitlines()[-1]
    assert last.startswith("::error title=kerasfix interrupted::Interrupted: 3 of 4 DATA files")
    assert str(held) in last


def test_interrupted_sarif_marks_the_run_unsuccessful(tmp_path: Path) -> None:
    out, held = _interrupted(tmp_path, "sarif")
    log = json.loads(out)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert any(str(held) in text and text.startswith("Interrupted") for text in texts)


# --- the JSON report's schema (docs/report.schema.json) and SARIF 2.1.0

SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
GOLDENS = sorted(FIXTURES.glob("**/expected.json"))


def _validator(definition: str | None = None) -> Any:
    import jsonschema

    schema = SCHEMA if definition is None else {"$ref": f"#/$defs/{definition}", **_defs()}
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(schema)


def _defs() -> dict[str, Any]:
    return {"$defs": SCHEMA["$defs"]}


def _validate(report: dict[str, Any], definition: str | None = None) -> None:
    errors = sorted(_validator(definition).iter_errors(report), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.mark.parametrize(
    "golden", GOLDENS, ids=[str(p.parent.relative_to(FIXTURES)) for p in GOLDENS]
)
def test_every_fixture_report_matches_the_published_schema(golden: Path) -> None:
    """Each golden is what the CLI prints for its fixture (test_fixtures.py checks that)."""
    _validate(json.loads(golden.read_text()))


def test_the_schema_rejects_what_the_contract_rules_out() -> None:
    report = json.loads((FIXTURES / "KF107" / "positive" / "expected.json").read_text())
    for broken in (
        {**report, "status": "warn"},  # retired in schema_version 2
        {**report, "schema_version": 1},
        {**report, "interrupted": {"files_finished": [], "files_not_reached": []}},
        {k: v for k, v in report.items() if k != "notes"},
    ):
        assert list(_validator().iter_errors(broken)), broken


def test_live_json_and_jsonl_reports_match_the_schema(tmp_path: Path) -> None:
    folder = FIXTURES / "KF107" / "positive"
    report = json.loads(
        run_cli(["diagnose", "model.h5", "x.npy", "--format", "json"], 1, cwd=folder).stdout
    )
    assert report["schema_version"] == 2
    _validate(report)
    lines = run_cli(["diagnose", "model.h5", "x.npy", "--format", "jsonl"], 1, cwd=folder)
    *results, summary = (json.loads(line) for line in lines.stdout.splitlines())
    for result in results:
        _validate(result, "result")
    _validate(summary, "summaryLine")


def test_status_follows_fail_on() -> None:
    """A warning alone passes by default (exit 0) and fails with --fail-on warning (exit 1):
    the status says what the exit code says."""
    folder = FIXTURES / "KF101" / "positive"  # one KF101 warning
    args = ["diagnose", "model.h5", "x_train.npy", "--format", "json"]
    assert json.loads(run_cli(args, 0, cwd=folder).stdout)["status"] == "pass"
    failing = run_cli([*args, "--fail-on", "warning"], 1, cwd=folder)
    assert json.loads(failing.stdout)["status"] == "fail"


SARIF_SCHEMA = ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json"


def _validate_sarif(log: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.mark.parametrize(
    "case",
    ["KF107/positive", "KF101/positive", "KF504/positive", "KF601/positive", "KF001/positive"],
)
def test_sarif_is_valid_sarif_2_1_0_as_ruff_writes_it(case: str) -> None:
    folder = FIXTURES / case
    meta = json.loads((folder / "case.json").read_text())
    outcome = run_cli(
        ["diagnose", meta["model"], *meta["data"], *meta["args"], "--format", "sarif"],
        None,
        cwd=folder,
    )
    assert outcome.exit_code in (0, 1), outcome.stderr
    log = json.loads(outcome.stdout)
    _validate_sarif(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    [run] = log["runs"]
    golden = json.loads((folder / "expected.json").read_text())
    findings = [
        (r["path"], f["code"], f["severity"]) for r in golden["results"] for f in r["findings"]
    ]
    levels = {"error": "error", "warning": "warning", "info": "note"}
    assert [
        (
            Path(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"][7:]),
            r["ruleId"],
            r["level"],
        )
        for r in run["results"]
    ] == [((folder / path).resolve(), code, levels[sev]) for path, code, sev in findings]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({code for _, code, _ in findings})
    for rule in rules:
        assert rule["properties"]["problem.severity"] in ("error", "warning", "recommendation")
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
    assert run["tool"]["driver"]["name"] == "kerasfix"
    assert run["invocations"][0]["executionSuccessful"] is True
