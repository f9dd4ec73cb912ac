"""Renderers: a Report in, text out. The one place (with cli.py) that knows about output."""

from __future__ import annotations

from collections.abc import Callable

from kerasfix.findings import Report
from kerasfix.report import github, json_report, sarif, text

RENDERERS: dict[str, Callable[[Report, bool], str]] = {
    "text": text.render,
    "json": json_report.render,
    "jsonl": json_report.render_lines,
    "github": github.render,
    "sarif": sarif.render,
}

__all__ = ["RENDERERS"]
