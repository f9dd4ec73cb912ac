"""Startup benchmark: `kerasfix diagnose` on the seed fixture against `import tensorflow`.

Both are timed as whole commands, alternating, in the same run, so machine load affects both
alike. Writes the figures and the commands to docs/benchmarks.md (section "Startup").

    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchdoc import replace_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
KERASFIX = [
    sys.executable,
    "-m",
    "kerasfix",
    "diagnose",
    "fixtures/seed/lstm/model.keras",
    "fixtures/seed/lstm/x.npy",
]
TENSORFLOW = [sys.executable, "-c", "import tensorflow"]


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    timed(KERASFIX)
    timed(TENSORFLOW)  # warm the page cache for both
    kf, tf = [], []
    for _ in range(args.runs):
        kf.append(timed(KERASFIX))
        tf.append(timed(TENSORFLOW))
    kf_med, tf_med = statistics.median(kf), statistics.median(tf)
    ratio = kf_med / tf_med
    body = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of {args.runs} alternating runs of each "
        "whole command.\n\n"
        "| command | median s | min s | max s |\n|---|---|---|---|\n"
        f"| `kerasfix diagnose fixtures/seed/lstm/model.keras fixtures/seed/lstm/x.npy` "
        f"| {kf_med:.2f} | {min(kf):.2f} | {max(kf):.2f} |\n"
        f'| `python -c "import tensorflow"` | {tf_med:.2f} | {min(tf):.2f} | {max(tf):.2f} |\n\n'
        f"kerasfix takes **{ratio:.2f}x** the time of importing TensorFlow (goal: under 0.33x): "
        "it reads the model's config and the array's header and never imports TensorFlow.\n\n"
        "Reproduce: `.venv/bin/python bench/startup.py` (or `make bench`).\n"
    )
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\nFigures written by `bench/`.\n"
    DOC.write_text(replace_section(text, "Startup", body))
    print(body)


if __name__ == "__main__":
    main()
