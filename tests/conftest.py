"""Shared helpers: run the real CLI (in-process with CliRunner, or as a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerasfix.cli import app

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: list[str], expected_code: int | None = 0, cwd: Path | None = None) -> Outcome:
    """The CLI in-process; on an unexpected exit code the failure shows stdout and stderr."""
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(app, args)
    finally:
        os.chdir(old)
    outcome = Outcome(result.exit_code, result.stdout, result.stderr)
    if expected_code is not None and result.exit_code != expected_code:
        pytest.fail(
            f"kerasfix {' '.join(args)} exited {result.exit_code}, expected {expected_code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
            f"--- exception\n{result.exception!r}"
        )
    return outcome


def run_subprocess(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a fresh interpreter: real stderr, real exit code."""
    return subprocess.run(
        [sys.executable, "-m", "kerasfix", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
