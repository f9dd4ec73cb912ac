"""Shared by the bench scripts: one section of docs/benchmarks.md, and a child process that
reports its own peak memory."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def replace_section(text: str, title: str, body: str) -> str:
    """Swap the `## title` section of the page (or append it), keeping the others."""
    head = f"## {title}\n"
    if head not in text:
        return text.rstrip("\n") + "\n\n" + head + body
    before, rest = text.split(head, 1)
    after = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
    return before + head + body + ("\n" + after if after else "")


# Appended to a child's script: its own VmHWM (rusage's maxrss is inherited across fork and
# exec, so the parent's memory would count).
HWM = (
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "sys.stderr.write('HWM_KB=%s\\n' % hwm)\n"
)
# `python -c KERASFIX args...`: the CLI in a child that reports whether TensorFlow was imported,
# its exit code and its peak memory on stderr.
KERASFIX = (
    "import sys\n"
    "from kerasfix.cli import app\n"
    "code = 0\n"
    "try:\n"
    "    app(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "sys.stderr.write('EXIT=%s\\n' % code)\n"
    "sys.stderr.write('TENSORFLOW_IMPORTED=%s\\n' % ('tensorflow' in sys.modules))\n"
) + HWM


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """A whole command's wall time, and its stderr."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.stderr
