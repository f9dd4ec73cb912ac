"""Every fixture folder through the real CLI: golden reports, exact codes, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kerasfix.checks import RULES
from kerasfix.checks.base import DOC_SECTIONS
from kerasfix.checks.catalog import ALL_CODES
from tests.conftest import FIXTURES, ROOT, run_cli

CASES = sorted(p.parent for p in FIXTURES.glob("**/case.json"))


def _codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for r in report["results"] for f in r["findings"]}


@pytest.mark.parametrize("folder", CASES, ids=[str(p.relative_to(FIXTURES)) for p in CASES])
def test_fixture_report_matches_golden(folder: Path) -> None:
    case = json.loads((folder / "case.json").read_text())
    expected = json.loads((folder / "expected.json").read_text())
    errors = any(f["severity"] == "error" for r in expected["results"] for f in r["findings"])
    outcome = run_cli(
        ["diagnose", case["model"], *case["data"], *case["args"], "--format", "json"],
        expected_code=1 if errors else 0,
        cwd=folder,
    )
    report = json.loads(outcome.stdout)
    report["kerasfix_version"] = "<version>"
    assert report == expected

    name = folder.name
    code = folder.parent.name
    if name == "positive":
        assert _codes(report) == {code}
    elif name == "negative":
        assert _codes(report) == set()
    if "codes" in case:  # the issue-14 cases name the codes they must (and only) report
        assert _codes(report) == set(case["codes"])


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("by-name", set()),
        ("explicit", set()),
        ("missing-input", {"KF002"}),
        ("outputs-loss-dict", set()),
    ],
)
def test_multi_input_arrays_map_by_input_name(name: str, codes: set[str]) -> None:
    expected = json.loads((FIXTURES / "multi" / name / "expected.json").read_text())
    assert _codes(expected) == codes
    inputs = {r["input"]: r["key"] for r in expected["results"] if r["role"] == "x"}
    if name == "by-name":
        assert inputs == {"tokens": "tokens", "meta": "meta"}
    elif name == "explicit":
        assert inputs == {"tokens": "a", "meta": "b"}


def test_every_rule_has_positive_and_negative_fixtures() -> None:
    for code in RULES:
        for variant in ("positive", "negative"):
            assert (FIXTURES / code / variant / "case.json").is_file(), f"{code}/{variant}"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_has_complete_docs(code: str) -> None:
    rule = RULES[code]
    doc = rule.doc()
    positions = [doc.find(section) for section in DOC_SECTIONS]
    assert all(p >= 0 for p in positions), f"{code} docs lack a section: {DOC_SECTIONS}"
    assert positions == sorted(positions)
    assert rule.name and rule.trigger and rule.repair


def test_every_rule_is_in_the_catalogue_of_codes() -> None:
    for code, rule in RULES.items():
        assert ALL_CODES[code] == rule.name


def test_rules_agree_with_the_public_contract() -> None:
    rules_md = ROOT / "docs" / "RULES.md"  # the project's own copy of the contract
    table = dict(re.findall(r"^\| (KF\d{3}) \| ([a-z-]+) \|", rules_md.read_text(), re.M))
    for code, rule in RULES.items():
        assert table.get(code) == rule.name, code
    assert table == ALL_CODES


def test_seed_lstm_example_reports_missing_axis() -> None:
    folder = FIXTURES / "seed" / "lstm"
    outcome = run_cli(["diagnose", "model.keras", "x.npy"], expected_code=0, cwd=folder)
    assert "x.npy  KF101 warning  missing-axis" in outcome.stdout
    assert "batch_shape=(None, 10, 1); found ndim=2, shape=(100, 10)" in outcome.stdout
    assert "np.expand_dims(x, -1) gives (100, 10, 1)" in outcome.stdout


@pytest.mark.parametrize("name", ["conv1d", "embedding"])
def test_seed_healthy_examples_are_clean(name: str) -> None:
    folder = FIXTURES / "seed" / name
    outcome = run_cli(["diagnose", "model.keras", "x.npy", "y.npy"], expected_code=0, cwd=folder)
    assert outcome.stdout.startswith("No problems found in 2 files.")
