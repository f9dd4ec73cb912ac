"""Fuzz targets, one per reader: bytes -> a file of that format -> what the CLI would do.

    python tests/fuzz/fuzz_loaders.py [--seconds N] [TARGET ...]     # all targets by default

Each target runs for a fixed time in its own process, with atheris (coverage-guided libFuzzer)
where it is installed, else (or with FUZZ_ENGINE=hypothesis) with hypothesis (random
mutations of the same seeds). A crash is
anything the CLI would turn into exit 3 (an internal error): for DATA, `api.diagnose` may
only raise `KerasfixError` (no DATA readable); for a MODEL, `load_contract` only
`ModelReadError`. Hangs (past 20 s on one input) and allocations past 2 GiB count as crashes
too. Seeds are the committed fixtures; `make fuzz` runs this (not part of `make test`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "fixtures"
SEQUENCE_MODEL = FIXTURES / "KF401" / "positive" / "model.keras"
ARRAY_MODEL = FIXTURES / "seed" / "conv1d" / "model.keras"
RECORD_MODEL = FIXTURES / "tfrecord" / "healthy" / "model.keras"

# target -> (file suffix, what reads it, the seed files)
TARGETS: dict[str, tuple[str, str, list[Path]]] = {
    "npy": (".npy", "data", [FIXTURES / "seed" / "conv1d" / "x.npy"]),
    "npz": (".npz", "data", [FIXTURES / "KF102" / "positive" / "train.npz"]),
    "h5": (".h5", "data", []),  # seeded below: the fixtures hold no .h5 data file
    "csv": (".csv", "data", sorted((FIXTURES / "csv").rglob("*.csv"))[:2]),
    "jsonl": (".jsonl", "data", [FIXTURES / "KF401" / "positive" / "train.jsonl"]),
    "json": (".json", "data", []),
    "keras": (".keras", "model", [FIXTURES / "seed" / "conv1d" / "model.keras"]),
    "h5model": (".h5", "model", [FIXTURES / "KF101" / "positive" / "model.h5"]),
    "jsonarch": (".json", "model", []),
    # TFRecord shards: the framing (CRCs, lengths, compression) and, with every input framed
    # correctly, the tf.train.Example parser behind it.
    "tfrecord": (
        ".tfrecord",
        "data",
        [
            FIXTURES / "tfrecord" / "healthy" / "train.tfrecord",
            FIXTURES / "tfrecord" / "corrupt-record" / "train.tfrecord",
            FIXTURES / "tfrecord" / "healthy-gzip" / "train.tfrecord.gz",
        ],
    ),
    "example": (".tfrecord", "data", []),  # seeded below: single Example records
}


def _seeds(target: str) -> list[bytes]:
    files = TARGETS[target][2]
    seeds = [f.read_bytes() for f in files if f.is_file()]
    if target == "example":
        from kerasfix.loaders import tfrecord

        for case in ("healthy", "image-size"):
            shard = next((FIXTURES / "tfrecord" / case).glob("*.tfrecord*"))
            seeds += [
                r.data for r in tfrecord.iter_framed(str(shard)) if isinstance(r, tfrecord.Record)
            ][:2]
    if target == "h5":
        import h5py
        import numpy as np

        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            f.create_dataset("x", data=np.zeros((4, 10, 3), np.float32))
            f.create_dataset("y", data=np.arange(4))
        seeds.append(buffer.getvalue())
    if target == "json":
        seeds.append(json.dumps({"x": [[1, 2, 3], [4]], "y": [0, 1]}).encode())
    if target == "jsonarch":
        with zipfile.ZipFile(FIXTURES / "seed" / "conv1d" / "model.keras") as archive:
            seeds.append(archive.read("config.json"))
    return seeds or [b""]


def make_target(target: str, workdir: str) -> Callable[[bytes], None]:
    """The function one fuzz input goes through; raises only for what would be a crash."""
    from kerasfix import api
    from kerasfix.errors import KerasfixError, ModelReadError
    from kerasfix.model import load_contract
    from kerasfix.options import DiagnoseOptions

    suffix, kind, _ = TARGETS[target]
    path = os.path.join(workdir, f"input{suffix}")
    model = str(SEQUENCE_MODEL if target in ("jsonl", "json") else ARRAY_MODEL)
    if target in ("tfrecord", "example"):
        model = str(RECORD_MODEL)
    options = DiagnoseOptions(trace_model=False)

    def one_input(data: bytes) -> None:
        if target == "example":
            from kerasfix.loaders.tfrecord import frame

            data = frame(data) * 3
        with open(path, "wb") as fh:
            fh.write(data)
        if kind == "model":
            with contextlib.suppress(ModelReadError):
                # A legacy .h5 is read in a child process; a libhdf5 that loops on a damaged
                # file is stopped after 5 s (a ModelReadError), well inside -timeout.
                load_contract(path, 5.0).to_dict()
            return
        with contextlib.suppress(KerasfixError):
            api.diagnose(model, [path], options)

    return one_input


def _run_atheris(target: str, seconds: int, workdir: str) -> None:
    import atheris

    corpus = os.path.join(workdir, "corpus")
    os.makedirs(corpus)
    for i, seed in enumerate(_seeds(target)):
        Path(corpus, f"seed{i}").write_bytes(seed)
    with atheris.instrument_imports():
        import kerasfix.loaders
        import kerasfix.model
        import kerasfix.safeio  # noqa: F401
    one_input = make_target(target, workdir)
    # Crashing inputs outlive the run: FUZZ_ARTIFACTS, else a folder in the system temp dir.
    artifacts = os.environ.get("FUZZ_ARTIFACTS") or os.path.join(
        tempfile.gettempdir(), "kerasfix-fuzz-artifacts"
    )
    os.makedirs(artifacts, exist_ok=True)
    argv = [
        sys.argv[0],
        corpus,
        f"-max_total_time={seconds}",
        "-timeout=20",
        "-rss_limit_mb=2048",
        "-max_len=65536",
        f"-artifact_prefix={artifacts}/{target}-",
        "-print_final_stats=1",
    ]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()  # exits the process: 0 when no crash in the time given


def _run_hypothesis(target: str, seconds: int, workdir: str) -> None:
    """The fallback: hypothesis mutates the seeds (flips, cuts, insertions) until time is up."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    one_input = make_target(target, workdir)
    seeds = _seeds(target)
    deadline = time.monotonic() + seconds
    runs = 0

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(1, 8))):
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            at = draw(st.integers(0, max(0, len(data) - 1)))
            if op == "flip" and data:
                data[at] = draw(st.integers(0, 255))
            elif op == "cut":
                del data[at : at + draw(st.integers(1, 64))]
            else:
                data[at:at] = draw(st.binary(min_size=1, max_size=16))
        return bytes(data)

    @settings(
        max_examples=1_000_000,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated())
    def fuzz(data: bytes) -> None:
        nonlocal runs
        if time.monotonic() > deadline:
            raise TimeUp
        runs += 1
        one_input(data)

    with contextlib.suppress(TimeUp):
        fuzz()
    sys.stderr.write(f"Done {runs} runs in {seconds} second(s) (hypothesis)\n")


class TimeUp(Exception):
    """The fuzzing time is over (hypothesis has no time budget of its own)."""


def _one(target: str, seconds: int) -> None:
    workdir = tempfile.mkdtemp(prefix=f"kerasfix-fuzz-{target}-")
    try:
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "hypothesis"
        else:
            engine = os.environ.get("FUZZ_ENGINE", "atheris")
        if engine == "hypothesis":
            _run_hypothesis(target, seconds, workdir)
        else:
            _run_atheris(target, seconds, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=sorted(TARGETS))
    parser.add_argument("--seconds", type=int, default=30, help="per target")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {sorted(TARGETS)}")
    if args.child:
        _one(args.targets[0], args.seconds)
        return 0
    failed = []
    for target in args.targets:
        # One process per target: atheris.Fuzz() never returns, and a crash stays contained.
        done = subprocess.run(
            [sys.executable, __file__, "--child", "--seconds", str(args.seconds), target],
            capture_output=True,
            text=True,
            check=False,
        )
        stats = [
            line
            for line in done.stderr.splitlines()
            if line.startswith(("Done ", "stat::number_of_executed_units"))
        ]
        verdict = "ok" if done.returncode == 0 else f"CRASH (exit {done.returncode})"
        print(f"{target:9} {verdict:18} {stats[0] if stats else ''}", flush=True)
        if done.returncode != 0:
            failed.append(target)
            sys.stderr.write(done.stderr[-4000:] + "\n")
    print(f"{len(args.targets) - len(failed)} of {len(args.targets)} targets ran without a crash")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
