"""`--format json` and `jsonl`, exactly as RULES.md: keys sorted so reports diff cleanly.

The report's JSON Schema is docs/report.schema.json; a test validates every fixture's report
against it. Bump SCHEMA_VERSION (and the schema, and say so in CHANGELOG.md) whenever a key is
added, removed or changes meaning."""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from kerasfix import __version__
from kerasfix.findings import FileResult, Finding, Report, Severity

# 2: top-level `notes` (issue 13), per-result `notes` (issue 14), `status` by --fail-on
# ("warn" retired), `interrupted` (issue 15).
SCHEMA_VERSION = 2


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
    described: dict[str, Any] = {
        "path": r.path,
        "key": r.key,
        "role": r.role,
        "input": r.input,
        "output": r.output,
        "shape": None if r.shape is None else list(r.shape),
        "dtype": r.dtype,
        "findings": [finding_dict(f) for f in r.findings],
    }
    if r.notes:  # only where something was assumed: other results read as before
        described["notes"] = list(r.notes)
    return described


def status(report: Report) -> str:
    """`interrupted` when the run was stopped (never a pass: files were not reached), `fail`
    when a finding is at or above --fail-on (the run exits 1), else `pass`."""
    if report.interrupted:
        return "interrupted"
    worst, fail_on = report.worst(), report.fail_on
    return "fail" if worst is not None and fail_on is not None and worst >= fail_on else "pass"


def interrupted_dict(report: Report) -> dict[str, Any]:
    return {
        "files_finished": list(report.finished),
        "files_not_reached": list(report.not_reached),
    }


def summary_dict(report: Report) -> dict[str, Any]:
    return {
        "files": report.files,
        "clean": report.clean_files(),
        "errors": report.count(Severity.ERROR),
        "warnings": report.count(Severity.WARNING),
        "infos": report.count(Severity.INFO),
    }


def report_dict(report: Report) -> dict[str, Any]:
    described = {
        "schema_version": SCHEMA_VERSION,
        "kerasfix_version": __version__,
        "status": status(report),
        "model": report.model,
        "results": [result_dict(r) for r in report.results],
        "summary": summary_dict(report),
        "notes": list(report.notes),
    }
    if report.features:  # TFRecord runs: one summary per feature across every shard
        described["features"] = report.features
    if report.interrupted:  # only then: a finished run's report reads as before
        described["interrupted"] = interrupted_dict(report)
    return described


_RESULTS = "\x00results\x00"


def render(report: Report, color: bool = False) -> str:
    """Indented, with one result per line: json's indenting encoder is pure Python and takes
    seconds on a folder of thousands of files; each result goes through the C encoder."""
    doc = report_dict(report)
    results = [json.dumps(r, sort_keys=True) for r in doc["results"]]
    doc["results"] = _RESULTS
    text = json.dumps(doc, indent=2, sort_keys=True)
    listed = "[\n    " + ",\n    ".join(results) + "\n  ]" if results else "[]"
    return text.replace(json.dumps(_RESULTS), listed, 1) + "\n"


def summary_line(report: Report) -> str:
    line: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": status(report),
        "summary": summary_dict(report),
        "notes": list(report.notes),
    }
    if report.features:
        line["features"] = report.features
    if report.interrupted:
        line["interrupted"] = interrupted_dict(report)
    return json.dumps(line, sort_keys=True)


def render_lines(report: Report, color: bool = False) -> str:
    lines = [json.dumps(result_dict(r), sort_keys=True) for r in report.results]
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


class JsonlStream:
    """`--format jsonl` as the run goes: each file's results as soon as it is done (in the
    order files finish), then whatever only the whole run knows (a --y-file shared by many
    files is reported once, at the end), then the summary. Every line is flushed whole, so
    a reader sees valid JSON lines while the run is still going."""

    def __init__(self, out: TextIO, deferred: set[str]) -> None:
        self._out = out
        self._deferred = deferred  # real paths reported only at the end
        self._written: set[tuple[str, str | None, str]] = set()
        self._whole_run = False

    def _write(self, results: list[FileResult]) -> None:
        lines, idents = [], []
        for result in sorted(results, key=FileResult.sort_key):
            ident = (result.path, result.key, result.role)
            if ident in self._written or os.path.realpath(result.path) in self._deferred:
                continue
            idents.append(ident)
            result.findings.sort(key=Finding.sort_key)
            lines.append(json.dumps(result_dict(result), sort_keys=True) + "\n")
        if lines:
            self._out.write("".join(lines))
            self._out.flush()
        self._written.update(idents)  # only once written: a Ctrl-C above loses nothing

    def started(self, total: int, model_result: FileResult | None, whole_run: bool) -> None:
        self._whole_run = whole_run
        if model_result is not None and not whole_run:
            self._write([model_result])

    def file_done(self, path: str, results: list[FileResult]) -> None:
        if not self._whole_run:  # else augmentation findings still join these results
            self._write(results)

    def finish(self, report: Report) -> None:
        self._deferred = set()
        self._write(report.results)
        self._out.write(summary_line(report) + "\n")
        self._out.flush()
