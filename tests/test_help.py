"""Shell conventions: --help with an example and the exit codes for every command, flags
without type placeholders, and shell completion that a real bash installs and uses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from kerasfix.cli import app
from tests.conftest import run_cli

SCRIPT = Path(sys.executable).parent / "kerasfix"  # the console script, as a shell runs it
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _help(*args: str) -> str:
    # Wide enough that rich wraps nothing the assertions look for.
    env = {"COLUMNS": "200"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_cli([*args, "--help"]).stdout
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example_and_the_exit_codes(command: str) -> None:
    text = _help(command)
    example = re.search(r"Example: (kerasfix \S+.*?)\s*$", text, re.M)
    assert example, text
    assert example.group(1).startswith(f"kerasfix {command}")
    assert "Exit codes: 0" in text
    assert "3 a kerasfix bug" in text or command == "rules"


def test_top_level_help_lists_exit_codes_and_completion() -> None:
    text = _help()
    for code in ("0 nothing at or above --fail-on", "1 findings", "2 usage error", "130"):
        assert code in text
    assert "--install-completion" in text and "--show-completion" in text


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_flags_are_shown_without_type_placeholders(command: str) -> None:
    text = _help(*([command] if command else []))
    assert not re.search(r"<(bool|str|int|float|list\[str\]|int range|float range)>", text), text
    assert "[dask]" in text or command != "diagnose"  # rich markup did not eat it


def test_options_show_what_they_take() -> None:
    text = _help("repair")
    for shown in ("--out", "DIR"), ("--batch-size", "N"), ("--image-size", "HxW"):
        assert re.search(rf"{re.escape(shown[0])}\s+{re.escape(shown[1])}\b", text), shown
    assert re.search(r"--format\s+text\|json\b", text)
    assert re.search(r"--format\s+text\|json\|jsonl\|github\|sarif\b", _help("diagnose"))


def _complete(words: str, cword: int) -> list[str]:
    """What bash's completion function asks the program for: the same variables."""
    env = {**os.environ, "_KERASFIX_COMPLETE": "complete_bash"}
    env.update(COMP_WORDS=words, COMP_CWORD=str(cword))
    done = subprocess.run(
        [str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_names_commands_options_and_choices() -> None:
    assert _complete("kerasfix diag", 1) == ["diagnose"]
    assert _complete("kerasfix re", 1) == ["repair"]
    assert "--changed-only" in _complete("kerasfix repair m.keras --ch", 3)
    assert _complete("kerasfix diagnose m.keras --format s", 4) == ["sarif"]
    assert _complete("kerasfix diagnose m.keras --fail-on w", 4) == ["warning"]


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def _bash(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("_KERASFIX_COMPLETE", None)
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=False, timeout=60
    )


@needs_bash
def test_show_completion_gives_a_script_bash_completes_with(tmp_path: Path) -> None:
    done = _bash(
        "source <(kerasfix --show-completion) && complete -p kerasfix && "
        "COMP_WORDS=(kerasfix diagnose m.keras --format j) COMP_CWORD=4 && "
        '_kerasfix_completion kerasfix && printf "%s\\n" "${COMPREPLY[@]}"',
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "complete -o default -F _kerasfix_completion kerasfix"
    assert lines[1:] == ["json", "jsonl"]


@needs_bash
def test_install_completion_writes_the_script_and_sources_it_from_bashrc(tmp_path: Path) -> None:
    done = _bash("kerasfix --install-completion", tmp_path)
    assert done.returncode == 0, done.stderr
    script = tmp_path / ".bash_completions" / "kerasfix.sh"
    assert "_KERASFIX_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
    # A new interactive shell has it.
    again = _bash("source ~/.bashrc && complete -p kerasfix", tmp_path)
    assert again.stdout.strip() == "complete -o default -F _kerasfix_completion kerasfix"
