"""`--format github`: workflow commands that annotate files in a GitHub Actions run."""

from __future__ import annotations

from kerasfix.findings import Report, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render(report: Report, color: bool = False) -> str:
    lines = []
    for result in report.results:
        for f in result.findings:
            where = result.path + (f"::{result.key}" if result.key else "")
            lines.append(
                f"::{_LEVEL[f.severity]} file={_escape(result.path).replace(',', '%2C')},"
                f"title={f.code} {f.name}::{_escape(where)}: {_escape(f.what)}. "
                f"Fix: {_escape(f.fix)}"
            )
    lines.extend(f"::notice title=kerasfix note::{_escape(note)}" for note in report.notes)
    if report.interrupted:
        from kerasfix.report.text import interrupted_line

        lines.append(f"::error title=kerasfix interrupted::{_escape(interrupted_line(report))}")
    return "\n".join(lines) + ("\n" if lines else "")
