"""`--format sarif`: SARIF 2.1.0, for code-scanning UIs, in the shape ruff writes it.

One run; `tool.driver.rules` holds the rules that have results (sorted by code), each with
its short description (the trigger), full description (the docs' "What it does"), help (the
whole rule page) and ruff's `properties` (`id`, `kind`: the rule family, `name`,
`problem.severity`). A result is a finding: its `ruleId`, `level` (error, warning, note),
`message.text` (what, then why and fix) and one location, the data file (or the model) as an
absolute `file://` URI with a region at its start, since data files have no lines. The run's
notes (what it could not check) and an interruption are `invocations[0]
.toolExecutionNotifications`; an interrupted run is not `executionSuccessful`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from kerasfix import __version__
from kerasfix.findings import FileResult, Finding, Report, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub code scanning reads `problem.severity` as error, warning or recommendation.
_PROBLEM = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "recommendation"}
FAMILIES = {
    "0": "input that cannot be read",
    "1": "shapes",
    "2": "values, indices and labels",
    "3": "sample counts and batches",
    "4": "variable-length sequences",
    "5": "augmentation, preprocessing and dataset folders",
    "6": "the model itself",
}


def _uri(path: str) -> str:
    return Path(os.path.abspath(path)).as_uri()


def _section(doc: str, heading: str) -> str:
    """One section of a rule's docstring, as one paragraph."""
    match = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    return " ".join(match.group(1).split()) if match else ""


def _rule(code: str) -> dict[str, Any]:
    from kerasfix.checks import RULES
    from kerasfix.report.ruledocs import rule_page

    rule = RULES[code]
    return {
        "id": code,
        "name": rule.name,
        "shortDescription": {"text": f"{rule.name}: {rule.trigger}"},
        "fullDescription": {"text": _section(rule.doc(), "What it does")},
        "help": {"text": rule_page(rule), "markdown": rule_page(rule)},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "id": code,
            "kind": f"KF{code[2]}xx {FAMILIES.get(code[2], '')}".strip(),
            "name": rule.name,
            "problem.severity": _PROBLEM[rule.severity],
            "repair": rule.repair,
        },
    }


def _result(result: FileResult, finding: Finding) -> dict[str, Any]:
    where = result.path + (f"::{result.key}" if result.key else "")
    return {
        "ruleId": finding.code,
        "level": _LEVEL[finding.severity],
        "message": {
            "text": f"{where}: {finding.what}. Why: {finding.why}. Fix: {finding.fix}",
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(result.path)},
                    # Data files have no lines: the start of the file, as code-scanning UIs
                    # need a region to place an alert.
                    "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1},
                },
                **(
                    {"logicalLocations": [{"name": result.key, "kind": "member"}]}
                    if result.key
                    else {}
                ),
            }
        ],
        "properties": {
            "key": result.key,
            "role": result.role,
            "applicability": finding.applicability.value,
            "expected": finding.expected,
            "received": finding.received,
        },
    }


def sarif_dict(report: Report) -> dict[str, Any]:
    from kerasfix.report.json_report import status
    from kerasfix.report.text import interrupted_line

    results = [_result(r, f) for r in report.results for f in r.findings]
    codes = sorted({f.code for r in report.results for f in r.findings})
    notifications = [{"level": "note", "message": {"text": note}} for note in report.notes]
    if report.interrupted:
        notifications.append({"level": "error", "message": {"text": interrupted_line(report)}})
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kerasfix",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule(code) for code in codes],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not report.interrupted,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
                "properties": {"status": status(report), "model": report.model_path},
            }
        ],
    }


def render(report: Report, color: bool = False) -> str:
    return json.dumps(sarif_dict(report), indent=2, sort_keys=True) + "\n"
