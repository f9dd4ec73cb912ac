"""Folder benchmark: `kerasfix diagnose MODEL DIR` over a corpus of shards, against the script
users write today (try `train_on_batch` on every shard) and a numpy floor (read every array,
take min and max).

Generates (not committed) bench/out/shards/: 2,000 `.npz` shards of x (2000, 10, 1) float32
and y (2000, 1), of which a quarter have the wrong rank (x is (2000, 10)) and a quarter the
wrong feature count (x is (2000, 10, 3)), for the seed LSTM model (input (None, 10, 1)).
Each command runs as a whole process, alternating in the same run, the corpus in the page
cache. Peak memory is sampled every 20 ms as the RSS summed over the command's process tree
(kerasfix's worker processes included). Writes the "Folders" section of docs/benchmarks.md.

    .venv/bin/python bench/folders.py [--shards 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from benchdoc import replace_section

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
MODEL = "fixtures/seed/lstm/model.keras"

# (b) What users write today: load the model once, try one training step per shard.
TRY_FIT = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
failed = []
for path in sorted(os.listdir(sys.argv[2])):
    with np.load(os.path.join(sys.argv[2], path)) as shard:
        x, y = shard["x"][:32], shard["y"][:32]
    try:
        model.train_on_batch(x, y)
    except Exception:
        failed.append(path)
print("\\n".join(failed))
"""

# (c) The floor: read every array of every shard and take its min and max.
FLOOR = """
import os, sys
import numpy as np
for path in sorted(os.listdir(sys.argv[1])):
    with np.load(os.path.join(sys.argv[1], path)) as shard:
        for key in shard.files:
            array = shard[key]
            array.min(), array.max()
"""


def keras_version() -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.metadata as m; print('keras', m.version('keras'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def generate(folder: Path, shards: int) -> dict[str, str]:
    """The corpus, and what is wrong with each bad shard."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    wrong: dict[str, str] = {}
    for i in range(shards):
        name = f"shard-{i:05d}.npz"
        kind = ("ok", "ok", "rank", "features")[i % 4]
        shape = {"ok": (10, 1), "rank": (10,), "features": (10, 3)}[kind]
        if kind != "ok":
            wrong[name] = kind
        path = folder / name
        if path.exists():
            continue
        np.savez(
            path,
            x=rng.standard_normal((2000, *shape)).astype(np.float32),
            y=rng.integers(0, 2, (2000, 1)).astype(np.float32),
        )
    return wrong


def _tree_rss(root: int) -> int:
    """Bytes resident in root and all its descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(pid, 0) for pid in tree)


def timed(cmd: list[str]) -> tuple[float, int, int, str]:
    """Seconds, peak tree RSS, exit code and stdout of a whole command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = 0
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    reader.join()
    return seconds, peak, proc.returncode, b"".join(chunks).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    corpus = OUT / f"shards-{args.shards}"
    wrong = generate(corpus, args.shards)
    subprocess.run(["sh", "-c", f"cat '{corpus}'/* > /dev/null"], check=True)
    kerasfix = [
        sys.executable,
        "-m",
        "kerasfix",
        "diagnose",
        MODEL,
        str(corpus),
        "--format",
        "json",
    ]
    try_fit = [sys.executable, "-c", TRY_FIT, MODEL, str(corpus)]
    floor = [sys.executable, "-c", FLOOR, str(corpus)]
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    peaks: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    found: dict[str, set[str]] = {}
    for _ in range(args.runs):
        for label, cmd in (("a", kerasfix), ("b", try_fit), ("c", floor)):
            seconds, peak, code, out = timed(cmd)
            times[label].append(seconds)
            peaks[label].append(peak)
            if label == "a":
                if code != 1:
                    raise SystemExit(f"kerasfix exited {code}")
                report = json.loads(out)
                found["a"] = {
                    os.path.basename(r["path"]) for r in report["results"] if r["findings"]
                }
            elif label == "b":
                found["b"] = {line for line in out.splitlines() if line}
    a, b, c = (statistics.median(times[k]) for k in "abc")
    n = args.shards

    def count(label: str, kind: str) -> int:
        return sum(1 for name in found[label] if wrong.get(name) == kind)

    ranks = sum(1 for k in wrong.values() if k == "rank")
    feats = sum(1 for k in wrong.values() if k == "features")
    false_a = len(found["a"] - set(wrong))
    row = "| {} | `{}` | {:.2f} | {} | {:.0f} | {:.0f} MiB |\n"
    body = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {n} `.npz` shards of x (2000, 10, 1) float32 and "
        f"y (2000, 1) ({ranks} with x of the wrong rank, {feats} with the wrong feature count), "
        f"the seed LSTM model; median of {args.runs} alternating runs, corpus in the page cache; "
        "peak memory is the RSS summed over each command's process tree, sampled every 20 ms.\n\n"
        "| | command | median s | runs s | files/s | peak memory |\n|---|---|---|---|---|---|\n"
        + row.format(
            "a",
            f"kerasfix diagnose {MODEL} shards/ --format json",
            a,
            ", ".join(f"{t:.2f}" for t in times["a"]),
            n / a,
            max(peaks["a"]) / 2**20,
        )
        + row.format(
            "b",
            "python -c TRY_FIT (load_model once; per shard np.load + train_on_batch on 32 rows)",
            b,
            ", ".join(f"{t:.2f}" for t in times["b"]),
            n / b,
            max(peaks["b"]) / 2**20,
        )
        + row.format(
            "c",
            "python -c FLOOR (per shard np.load, every array's min and max)",
            c,
            ", ".join(f"{t:.2f}" for t in times["c"]),
            n / c,
            max(peaks["c"]) / 2**20,
        )
        + f"\nkerasfix is **{b / a:.1f}x** faster than trying `train_on_batch` (goal: at least "
        f"10x) and takes **{a / c:.2f}x** the numpy floor's time (goal: within 3x).\n\n"
        f"Wrong shards found: kerasfix {count('a', 'rank')}/{ranks} wrong-rank and "
        f"{count('a', 'features')}/{feats} wrong-feature shards ({false_a} healthy shards "
        f"flagged); the `train_on_batch` script {count('b', 'rank')}/{ranks} and "
        f"{count('b', 'features')}/{feats}"
        + (
            ": Keras 3 silently adds the missing trailing axis to the 2-D shards and trains on "
            "them, so only the wrong feature counts fail.\n\n"
            if count("b", "rank") < ranks
            else " (with this Keras the 2-D shards fail too, but only because the model was "
            "already traced for 3-D batches: `Sequential.call` raises when it retraces; a fresh "
            f"model trains on a 2-D shard without a word, `{keras_version()}`).\n\n"
        )
        + "The scripts (b) and (c) are in `bench/folders.py` (TRY_FIT, FLOOR). Reproduce: "
        f"`.venv/bin/python bench/folders.py` (writes ~{n * 0.14:.0f} MB under bench/out/).\n"
    )
    page = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    DOC.write_text(replace_section(page, "Folders", body))
    print(body)


if __name__ == "__main__":
    main()
