"""The core alone: `pip install kerasfix` (no extras) in a virtual environment of its own,
without TensorFlow or Keras. Header-only checks work as with the full install; every step that
needs Keras says so in one note and the run goes on.

The environment is built once in `.venv-core/` (git-ignored; `make clean` removes it) with the
pip cache, and rebuilt only when pyproject.toml or the package's files change. Where the
package index cannot be reached, the tests are skipped and say so; any other failure to
install fails them.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, run_subprocess

CORE = ROOT / ".venv-core"
LOCK = ROOT / ".venv-core.lock"
NO_KERAS = "Keras is not installed (pip install 'kerasfix[tensorflow]')"
# What pip prints when the index, not the package, is the problem.
NETWORK_TROUBLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|Max retries exceeded|"
    r"ProxyError|ConnectTimeout|Read timed out|No route to host|Connection refused",
    re.IGNORECASE,
)


def _fingerprint() -> str:
    """pyproject.toml and every file of the package: what `pip install .` installs."""
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml", *sorted((ROOT / "kerasfix").rglob("*"))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    trouble = NETWORK_TROUBLE.search(output)
    if trouble:
        pytest.skip(f"the package index cannot be reached ({trouble.group(0)}): core not built")
    pytest.fail(f"{' '.join(command)} failed (exit {done.returncode}):\n{output[-4000:]}")


@pytest.fixture(scope="session")
def core_python() -> Path:
    """The Python of a venv holding `pip install .` and nothing else."""
    python = CORE / "bin" / "python"
    stamp = CORE / ".installed"
    with open(LOCK, "w") as lock:  # two test runs in one checkout build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        fingerprint = _fingerprint()
        if not python.exists():
            shutil.rmtree(CORE, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(CORE)])
        if not stamp.exists() or stamp.read_text() != fingerprint:
            stamp.unlink(missing_ok=True)
            pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            # The dependencies as pyproject.toml has them now, then this very source tree.
            _run([*pip, "."])
            _run([*pip, "--no-deps", "--force-reinstall", "."])
            stamp.write_text(fingerprint)
    return python


def _core(
    python: Path, args: list[str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "kerasfix", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_core_installs_without_tensorflow_or_keras(core_python: Path) -> None:
    probe = (
        "import importlib.util, json, kerasfix\n"
        "print(json.dumps([importlib.util.find_spec(m) is not None"
        " for m in ('tensorflow', 'keras', 'numpy', 'h5py', 'typer', 'rich')]))\n"
        "print(kerasfix.__file__)\n"
    )
    done = subprocess.run(
        [str(core_python), "-c", probe], capture_output=True, text=True, check=True, cwd="/"
    )
    found, where = done.stdout.splitlines()
    assert found == "[false, false, true, true, true, true]"
    # The installed copy, not this checkout: `pip install .` is what is tested.
    assert str(CORE) in where


@pytest.mark.parametrize(
    "args",
    [
        ["diagnose", "seed/lstm/model.keras", "seed/lstm/x.npy", "seed/lstm/y.npy"],
        ["diagnose", "KF103/positive/model.keras", "KF103/positive/train.npz", "--format", "json"],
        ["diagnose", "KF201/positive/model.keras", "KF201/positive/x.npy"],
        ["diagnose", "images/mixed/model.keras", "images/mixed/images", "--image-size", "8x8"],
        ["diagnose", "KF100/positive/model.h5", "KF100/positive/train.h5"],
    ],
    ids=["npy", "npz-json", "values", "image-folder", "h5"],
)
def test_header_only_checks_give_the_full_installs_report(
    core_python: Path, args: list[str]
) -> None:
    core = _core(core_python, args, cwd=FIXTURES)
    full = run_subprocess(args, cwd=FIXTURES)
    assert (core.returncode, core.stdout) == (full.returncode, full.stdout), core.stderr
    assert core.stderr == full.stderr == ""


# name: (fixture, arguments, what the run says instead of Keras's answer)
KERAS_STEPS = {
    "patch-question": (
        "patch/length",
        ["diagnose", "model.keras", "train.npz"],
        "note: Keras could not confirm whether the model's input can be patched",
    ),
    "inspect-layer-shapes": (
        "KF107/positive",
        ["inspect", "model.h5"],
        "layers: Keras could not confirm that the architecture builds",
    ),
    "architecture-build": (
        "KF601/positive",
        ["diagnose", "model.json"],
        "note: Keras could not confirm that the architecture builds",
    ),
    "model-patch-and-verify-fit": (
        "patch/length",
        ["repair", "model.keras", "train.npz", "--out", "out", "--prefer", "model", "--verify-fit"],
        "verify-fit skipped: Keras could not confirm that the model trains on it",
    ),
    "loss-patch": (
        "patch/loss",
        ["repair", "model.keras", "train.npz", "--out", "out", "--prefer", "model"],
        "note: model.keras was not written: Keras could not confirm the patch",
    ),
    "augment": (
        "augment/healthy",
        ["diagnose", "model.keras", "train.npz", "--augment", "augment.py:crop_to_6"],
        "note: Keras could not confirm KF501-KF503",
    ),
    "model-augmentation-layers": (
        "augment/model-random-crop",
        ["diagnose", "model.keras", "train.npz"],
        "note: Keras could not confirm KF501-KF503",
    ),
}


@pytest.mark.parametrize(("fixture", "args", "says"), KERAS_STEPS.values(), ids=KERAS_STEPS.keys())
def test_keras_steps_without_keras_say_so_and_the_run_goes_on(
    core_python: Path, tmp_path: Path, fixture: str, args: list[str], says: str
) -> None:
    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / fixture, folder)
    done = _core(core_python, args, cwd=folder)
    assert done.returncode in (0, 1), done
    assert done.stderr == "", done.stderr
    assert says in done.stdout, done.stdout
    assert NO_KERAS in done.stdout


def test_a_savedmodel_without_tensorflow_is_one_line(core_python: Path, tmp_path: Path) -> None:
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
    done = _core(core_python, ["inspect", "sm"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"kerasfix: error: sm: reading a SavedModel's signature needs TensorFlow: {NO_KERAS}\n"
    )
