"""Value-scan benchmark: `kerasfix diagnose` against a numpy-only floor, on large files.

Generates (not committed) under bench/out/:
  ids.npy     int32 token ids (N, 20) for the Embedding model of fixtures/KF105/negative,
              at least 2 GiB (--gib);
  floats.npy  float32 features (N, 6) for the Dense model of fixtures/KF221/negative.
Times whole commands in the same run, alternating, with the files in the page cache:
  kerasfix    `kerasfix diagnose MODEL FILE` (header + one chunked pass per array);
  numpy floor `np.load(FILE)`, then `min`, `max`, `isfinite(...).all()`.
Peak RSS of each child is its own VmHWM (read in the child: rusage's maxrss is inherited
across fork and exec, so it would count this script's own memory). Writes the
"Value scanning" section of docs/benchmarks.md.

    .venv/bin/python bench/values.py [--gib 2.0] [--runs 3]
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

import numpy as np
from benchdoc import HWM, KERASFIX, replace_section

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
CASES = {
    "ids.npy": ("fixtures/KF105/negative/model.keras", np.int32, 20),
    "floats.npy": ("fixtures/KF221/negative/model.keras", np.float32, 6),
}
FLOOR = (
    "import sys, numpy as np\n"
    "a = np.load(sys.argv[1])\n"
    "a.min(); a.max(); bool(np.isfinite(a).all())\n"
) + HWM


def generate(path: Path, dtype: type, width: int, gib: float) -> None:
    itemsize = np.dtype(dtype).itemsize
    rows = int(gib * 2**30) // (width * itemsize) + 1
    if path.exists() and np.load(path, mmap_mode="r").shape == (rows, width):
        return
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows, width))
    step = 1 << 20
    for start in range(0, rows, step):
        n = min(step, rows - start)
        if np.issubdtype(dtype, np.integer):
            out[start : start + n] = rng.integers(0, 10, size=(n, width), dtype=dtype)
        else:
            out[start : start + n] = rng.random((n, width), dtype=dtype)
    out.flush()
    del out


def run(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes (the child's VmHWM), stderr of one child."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.wait()
    elapsed = time.perf_counter() - start
    hwm = [line for line in err.splitlines() if line.startswith("HWM_KB=")]
    if not hwm:
        raise SystemExit(f"{cmd[3:]} failed:\n{err}")
    return elapsed, int(hwm[-1].removeprefix("HWM_KB=")) * 1024, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=2.0, help="size of ids.npy")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (model, dtype, width) in CASES.items():
        path = OUT / name
        gib = args.gib if name == "ids.npy" else args.gib / 2
        generate(path, dtype, width, gib)
        size = path.stat().st_size
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache
        kf, fl = [], []
        for _ in range(args.runs):
            kf.append(run([sys.executable, "-c", KERASFIX, "diagnose", model, str(path)]))
            fl.append(run([sys.executable, "-c", FLOOR, str(path)]))
        kf_s = statistics.median(t for t, _, _ in kf)
        fl_s = statistics.median(t for t, _, _ in fl)
        tf_imported = any("TENSORFLOW_IMPORTED=True" in e for _, _, e in kf)
        rows.append(
            (
                name,
                size,
                kf_s,
                fl_s,
                max(r for _, r, _ in kf),
                max(r for _, r, _ in fl),
                tf_imported,
            )
        )
    body = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; median of {args.runs} "
        "alternating runs of each whole command, files in the page cache.\n",
        "| file | size | kerasfix s | floor s | kerasfix MB/s | floor MB/s | ratio | "
        "kerasfix peak RSS | floor peak RSS | TF imported |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, size, kf_s, fl_s, kf_rss, fl_rss, tf_imported in rows:
        mb = size / 2**20
        body.append(
            f"| {name} | {mb / 1024:.2f} GiB | {kf_s:.2f} | {fl_s:.2f} | {mb / kf_s:.0f} | "
            f"{mb / fl_s:.0f} | {fl_s / kf_s:.2f}x | {kf_rss / 2**20:.0f} MiB | "
            f"{fl_rss / 2**20:.0f} MiB | {'yes' if tf_imported else 'no'} |"
        )
    body += [
        "",
        "ratio = kerasfix throughput / floor throughput (goal: at least 0.5x); kerasfix's peak "
        "RSS on the 2 GiB file must stay under 400 MiB (it reads 8 MiB chunks into one reused "
        "buffer; the floor loads the whole array).",
        "",
        'Commands: kerasfix = `kerasfix diagnose MODEL FILE`; floor = `python -c "a = '
        'np.load(FILE); a.min(); a.max(); np.isfinite(a).all()"`. Reproduce: '
        "`.venv/bin/python bench/values.py` (writes ~3 GiB under bench/out/).",
        "",
    ]
    text = "\n".join(body)
    DOC.parent.mkdir(exist_ok=True)
    page = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    DOC.write_text(replace_section(page, "Value scanning", text))
    print(text)


if __name__ == "__main__":
    main()
