"""Every use of TensorFlow runs in the Keras child: the patch question, model patching,
--verify-fit, augmentation and SavedModel signatures. The CLI process never imports it, and a
child that cannot import it or dies (an address-space limit) is a note, never a signal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT

pytestmark = pytest.mark.tensorflow

# Runs the CLI in this interpreter, then says whether TensorFlow or Keras entered it.
PROBE = """
import sys
from kerasfix.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    sys.stderr.write(f"EXIT={exc.code}\\n")
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def _copy(tmp_path: Path, fixture: str) -> Path:
    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / fixture, folder)
    return folder


# name: (fixture folder, arguments, what the output shows once Keras answered)
HEAVY = {
    "diagnose-patch-question": (
        "patch/length",
        ["diagnose", "model.keras", "train.npz"],
        "or patch the model's input to batch_shape=(None, None)",
    ),
    "repair-model-patch-verify-fit": (
        "patch/length",
        ["repair", "model.keras", "train.npz", "--out", "out", "--prefer", "model", "--verify-fit"],
        "verify-fit: one training step on 8 rows",
    ),
    "repair-verify-fit-image-folder": (
        "images/folder-categorical",
        ["repair", "model.keras", "images", "--out", "out", "--verify-fit"],
        "verify-fit: one training step on 9 rows",
    ),
    "augment-function": (
        "augment/healthy",
        [
            "diagnose",
            "model.keras",
            "train.npz",
            "--augment",
            "augment.py:crop_to_6",
            "--draws",
            "2",
        ],
        "KF502 error",
    ),
    "augment-model-layers": (
        "augment/model-random-crop",
        ["diagnose", "model.keras", "train.npz"],
        "the model's RandomCrop 'random_crop' hands (2, 6, 6, 3) to the next layer",
    ),
}


@pytest.mark.parametrize(("fixture", "args", "answered"), HEAVY.values(), ids=HEAVY.keys())
def test_keras_steps_run_in_the_child_never_in_the_cli_process(
    tmp_path: Path, fixture: str, args: list[str], answered: str
) -> None:
    folder = _copy(tmp_path, fixture)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert answered in done.stdout, done
    assert "Keras could not confirm" not in done.stdout
    assert "HEAVY=\n" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def savedmodel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel exported by Keras, in a process of its own."""
    folder = tmp_path_factory.mktemp("savedmodel")
    script = (
        "import os, sys\n"
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import keras\n"
        "m = keras.Sequential([keras.Input((10, 3)), keras.layers.Dense(1)])\n"
        "m.export(sys.argv[1], verbose=False)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(folder / "sm")], check=True, capture_output=True
    )
    return folder / "sm"


def test_a_savedmodel_signature_is_read_in_the_child(savedmodel: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "inspect", str(savedmodel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "(None, 10, 3)" in done.stdout, done
    assert "HEAVY=\n" in done.stderr, done.stderr


# name: (fixture folder, arguments, what a run without Keras says)
LIMITED = {
    "diagnose-patch-question": (
        "patch/length",
        ["diagnose", "model.keras", "train.npz"],
        "note: Keras could not confirm whether the model's input can be patched",
    ),
    "diagnose-size-patch-question": (
        "patch/size-gap",
        ["diagnose", "model.keras", "train.npz"],
        "note: Keras could not confirm whether the model's input can be patched",
    ),
    "repair-model-patch": (
        "patch/length",
        ["repair", "model.keras", "train.npz", "--out", "out", "--prefer", "model"],
        "note: Keras could not confirm whether the model's input can be patched",
    ),
    "repair-verify-fit": (
        "images/folder-categorical",
        ["repair", "model.keras", "images", "--out", "out", "--verify-fit"],
        "verify-fit skipped: Keras could not confirm that the model trains on it",
    ),
    "augment": (
        "augment/healthy",
        [
            "diagnose",
            "model.keras",
            "train.npz",
            "--augment",
            "augment.py:crop_to_6",
            "--draws",
            "2",
        ],
        "note: Keras could not confirm KF501-KF503",
    ),
}


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is a Linux limit here")
@pytest.mark.parametrize("kib", [2097152, 1000000])
@pytest.mark.parametrize(("fixture", "args", "without_keras"), LIMITED.values(), ids=LIMITED.keys())
def test_under_an_address_space_limit_keras_steps_end_with_a_report_never_a_signal(
    tmp_path: Path, kib: int, fixture: str, args: list[str], without_keras: str
) -> None:
    """`ulimit -v`, as hardened runners impose: 2 GiB is enough for TensorFlow 2.21 here (the
    step is confirmed, or said not to be), 1 GB is not (the step is a note)."""
    folder = _copy(tmp_path, fixture)
    command = " ".join([f"ulimit -v {kib} && exec {sys.executable} -m kerasfix", *args])
    done = subprocess.run(
        ["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=600
    )
    assert done.returncode in (0, 1, 2), done
    # stderr holds kerasfix's own lines only: no traceback, no TensorFlow stack dump.
    assert all(line.startswith("kerasfix: ") for line in done.stderr.splitlines()), done.stderr
    assert done.stdout or done.stderr.count("\n") == 1
    if kib == 1000000:
        assert without_keras in done.stdout, done
        assert "address space is limited to 1000000 KiB" in done.stdout


FAKE_OLD_KERAS = """\
import pathlib

__version__ = "3.11.0"


def __getattr__(name):  # anything asked of this Keras is recorded: it must not be asked
    pathlib.Path({marker!r}).write_text(name)
    raise AttributeError(name)
"""


@pytest.mark.parametrize(
    ("fixture", "args", "says"),
    [
        ("patch/length", ["diagnose", "model.keras", "train.npz"], "note: Keras could not"),
        (
            "patch/length",
            ["repair", "model.keras", "train.npz", "--out", "out", "--verify-fit"],
            "verify-fit skipped: Keras could not confirm",
        ),
        ("KF601/positive", ["diagnose", "model.json"], "note: Keras could not confirm"),
        ("augment/model-random-crop", ["diagnose", "model.keras", "train.npz"], "KF501-KF503"),
    ],
    ids=["patch-question", "verify-fit", "architecture-build", "augmentation-layers"],
)
def test_a_keras_below_the_security_floor_is_never_asked_about_a_model(
    tmp_path: Path, fixture: str, args: list[str], says: str
) -> None:
    """Keras 3.11 loads models with known advisories: it is imported, its version read, and
    nothing else asked of it; the step says which Keras is needed."""
    folder = _copy(tmp_path, fixture)
    marker = tmp_path / "asked"
    (tmp_path / "old" / "keras").mkdir(parents=True)
    (tmp_path / "old" / "keras" / "__init__.py").write_text(
        FAKE_OLD_KERAS.format(marker=str(marker))
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "old"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "kerasfix", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done
    assert done.stderr == ""
    assert says in done.stdout
    assert "Keras 3.11.0 is older than 3.15.1" in done.stdout
    assert not marker.exists(), f"kerasfix asked the old Keras for {marker.read_text()!r}"
