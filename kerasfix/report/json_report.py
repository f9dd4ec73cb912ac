"""`--format json` and `jsonl`, exactly as RULES.md: keys sorted so reports diff cleanly."""

from __future__ import annotations

import json
from typing import Any

from kerasfix import __version__
from kerasfix.findings import FileResult, Finding, Report, Severity

SCHEMA_VERSION = 1


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "name": f.name,
        "severity": f.severity.label,
        "what": f.what,
        "why": f.why,
        "fix": f.fix,
        "applicability": f.applicability.value,
        "expected": f.expected,
        "received": f.received,
        "details": f.details,
    }


def result_dict(r: FileResult) -> dict[str, Any]:
    return {
        "path": r.path,
        "key": r.key,
        "role": r.role,
        "input": r.input,
        "output": r.output,
        "shape": None if r.shape is None else list(r.shape),
        "dtype": r.dtype,
        "findings": [finding_dict(f) for f in r.findings],
    }


def status(report: Report) -> str:
    worst = report.worst()
    return {None: "pass", Severity.INFO: "pass", Severity.WARNING: "warn"}.get(worst, "fail")


def summary_dict(report: Report) -> dict[str, Any]:
    return {
        "files": report.files,
        "clean": report.clean_files(),
        "errors": report.count(Severity.ERROR),
        "warnings": report.count(Severity.WARNING),
        "infos": report.count(Severity.INFO),
    }


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kerasfix_version": __version__,
        "status": status(report),
        "model": report.model,
        "results": [result_dict(r) for r in report.results],
        "summary": summary_dict(report),
    }


def render(report: Report, color: bool = False) -> str:
    return json.dumps(report_dict(report), indent=2, sort_keys=True) + "\n"


def render_lines(report: Report, color: bool = False) -> str:
    lines = [json.dumps(result_dict(r), sort_keys=True) for r in report.results]
    lines.append(
        json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "status": status(report),
                "summary": summary_dict(report),
            },
            sort_keys=True,
        )
    )
    return "\n".join(lines) + "\n"
