"""Every case of the bad-input corpus through the real CLI, in a fresh interpreter each.

Beyond the case's own expectation (exit code, rule code, error text), every case must leave
no traceback and nothing but `kerasfix:` lines on stderr, no marker file anywhere (payloads
that would run code create one), nothing written outside its `--out`, and every input
byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.make_corpus import MARKER, Case, build

MAX_RSS_MB = 1024
CORPUS = pytest.StashKey[tuple[Path, list[Case]]]()


def _corpus(config: pytest.Config) -> tuple[Path, list[Case]]:
    """Built once per run, into pytest's own temporary folder (cases are needed to collect)."""
    if CORPUS not in config.stash:
        # tmp_path_factory is a session fixture; collection runs before fixtures exist.
        root = config._tmp_path_factory.mktemp("hostile-corpus")  # type: ignore[attr-defined]
        config.stash[CORPUS] = (root, build(root))
    return config.stash[CORPUS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        _, cases = _corpus(metafunc.config)
        metafunc.parametrize("case", cases, ids=[c.name for c in cases])


@pytest.fixture
def corpus_root(request: pytest.FixtureRequest) -> Path:
    return _corpus(request.config)[0]


def _snapshot(folder: Path, skip: Path | None = None) -> dict[str, Any]:
    """Every entry under `folder` (links not followed): content hash, link target or kind."""
    found: dict[str, Any] = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(base, name)
            if skip is not None and (path == skip or skip in path.parents):
                continue
            st = os.lstat(path)
            key = str(path.relative_to(folder))
            if stat.S_ISLNK(st.st_mode):
                found[key] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                try:
                    found[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
                except PermissionError:  # a chmod-0 input, when not run as root
                    found[key] = ("file", st.st_size, st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                found[key] = ("dir",)
            else:
                found[key] = ("special", stat.S_IFMT(st.st_mode))
    return found


def _listing(folder: Path, skip: Path | None = None) -> set[str]:
    """The names of everything under `folder` (links not followed), cheap enough to take for
    the whole corpus around each case."""
    return {
        os.path.join(base, name)
        for base, dirs, files in os.walk(folder)
        for name in dirs + files
        if skip is None or not Path(base, name).is_relative_to(skip)
    }


def _markers(*folders: Path) -> list[str]:
    return [
        os.path.join(base, MARKER)
        for folder in folders
        for base, _, files in os.walk(folder)
        if MARKER in files
    ]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float


def _run(case: Case, where: Path, home: Path, tmp: Path, logs: Path) -> Done:
    """The CLI in a fresh interpreter; wait4 gives this child's own peak memory."""
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "KERAS_HOME": str(home / "keras")}
    with open(logs / "out", "w+") as out, open(logs / "err", "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kerasfix", *case.args],
            cwd=where,
            env=env,
            stdout=out,
            stderr=err,
        )
        deadline = time.monotonic() + 180
        while (waited := os.wait4(proc.pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"{case.name}: still running after 180 s")
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(waited[1])
        out.seek(0)
        err.seek(0)
        return Done(proc.returncode, out.read(), err.read(), waited[2].ru_maxrss / 1024)


def _findings_of(report: dict[str, Any], path: str) -> list[dict[str, Any]]:
    found = [f for r in report["results"] if r["path"] == path for f in r["findings"]]
    if report["model"].get("path") == path:
        found += [f for r in report["results"] if r.get("role") == "model" for f in r["findings"]]
    return found


def test_corpus_covers_every_reader(corpus_root: Path, request: pytest.FixtureRequest) -> None:
    _, cases = _corpus(request.config)
    assert len(cases) >= 40
    readers = {c.reader for c in cases}
    assert {"npy", "npz", "h5", "csv", "json", "keras", "h5model", "jsonarch", "savedmodel"} <= (
        readers
    )
    assert len({c.name for c in cases}) == len(cases)


def test_hostile_case(case: Case, corpus_root: Path, tmp_path: Path) -> None:
    where = corpus_root / case.name
    out = where / case.out if case.out else None
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    before = _snapshot(where)
    listing = _listing(corpus_root)

    logs = tmp_path / "logs"
    logs.mkdir()
    done = _run(case, where, home, tmp, logs)

    context = (
        f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr}"
    )
    assert done.returncode == case.exit_code, context
    # Bombs are refused before allocation: no case needs more than the interpreter, numpy,
    # h5py (and, for SavedModels, TensorFlow's protobuf classes) take.
    assert done.max_rss_mb < MAX_RSS_MB, f"peak RSS {done.max_rss_mb:.0f} MB\n{context}"
    assert "Traceback" not in done.stderr, context
    assert all(line.startswith("kerasfix: ") for line in done.stderr.splitlines()), context
    assert _markers(corpus_root, home, tmp, tmp_path) == [], "a payload ran"
    assert _snapshot(where, skip=out) == before, "an input changed, or a file appeared"
    assert _listing(corpus_root, skip=out) == listing, "something was written outside --out"
    assert not any(tmp.iterdir()), f"left in TMPDIR: {list(tmp.iterdir())}"
    assert {p.name for p in home.iterdir()} <= {"keras"}, f"written to HOME: {list(home.iterdir())}"
    if out is not None:
        written = sorted(p.name for p in out.iterdir()) if out.exists() else []
        assert written == list(case.out_files), context
    if case.exit_code == 2:
        assert done.stdout == "", context
        assert case.message in done.stderr, context
    for path, code in case.findings.items():
        report = json.loads(done.stdout)
        findings = _findings_of(report, path)
        assert code in [f["code"] for f in findings], f"{path}: {findings}\n{context}"
        text = json.dumps([f for f in findings if f["code"] == code])
        assert case.message in text or case.message in json.dumps(report), (
            f"{case.message!r} not in {text}"
        )
