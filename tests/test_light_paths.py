"""The light paths never import TensorFlow or Keras: each runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES, ROOT

PROBE = """
import sys
from kerasfix.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""

LIGHT_COMMANDS = {
    "help": ["--help"],
    "rules": ["rules"],
    "inspect-keras": ["inspect", "fixtures/seed/lstm/model.keras"],
    "inspect-h5": ["inspect", "fixtures/KF107/positive/model.h5", "--format", "json"],
    "diagnose-keras-npy": [
        "diagnose",
        "fixtures/seed/lstm/model.keras",
        "fixtures/seed/lstm/x.npy",
        "fixtures/seed/lstm/y.npy",
    ],
    "diagnose-keras-npz": [
        "diagnose",
        "fixtures/KF103/positive/model.keras",
        "fixtures/KF103/positive/train.npz",
    ],
    "diagnose-h5-h5": [
        "diagnose",
        "fixtures/KF100/positive/model.h5",
        "fixtures/KF100/positive/train.h5",
    ],
    "diagnose-values": [
        "diagnose",
        "fixtures/KF201/positive/model.keras",
        "fixtures/KF201/positive/x.npy",
        "fixtures/KF213/positive/train.npz",
    ],
    "inspect-json": ["inspect", "fixtures/KF106/positive/model.json"],
    "diagnose-image-folder": [
        "diagnose",
        "fixtures/images/mixed/model.keras",
        "fixtures/images/mixed/images",
        "--image-size",
        "8x8",
    ],
    "diagnose-length-no-trace": [
        "diagnose",
        "fixtures/KF105/positive/model.keras",
        "fixtures/KF105/positive/train.npz",
        "--no-trace",
    ],
    "diagnose-json-npz": [
        "diagnose",
        "fixtures/KF106/negative/model.json",
        "fixtures/KF106/negative/train.npz",
    ],
}


@pytest.mark.parametrize("args", LIGHT_COMMANDS.values(), ids=LIGHT_COMMANDS.keys())
def test_light_command_never_imports_tensorflow(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "HEAVY=\n" in done.stderr, done.stderr
    assert done.stdout, done.stderr


def test_fixture_contracts_are_read_from_files_alone() -> None:
    """The same check through the library: reading every fixture model stays light."""
    code = (
        "import sys, json, glob\n"
        "from kerasfix.api import inspect_model\n"
        "for p in sorted(glob.glob('fixtures/*/*/model.*')):\n"
        "    inspect_model(p)\n"
        "print(json.dumps([m for m in ('tensorflow', 'keras') if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
    assert (FIXTURES / "seed").is_dir()
