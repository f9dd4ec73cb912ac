"""KF003's severity follows what loading the model would do: code from outside Keras fails a CI
gate (exit 1); a custom class only the user's own code supplies is a warning (exit 0)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, run_subprocess

NEGATIVE = FIXTURES / "KF003" / "negative"  # a plain Dense model, no code


def _with_layer(tmp_path: Path, *layers: dict[str, Any]) -> Path:
    """The negative fixture's model with `layers` added to its config (weights untouched)."""
    folder = tmp_path / "case"
    shutil.copytree(NEGATIVE, folder)
    source = NEGATIVE / "model.keras"
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"].extend(layers)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return folder


LAMBDA_GET_FILE = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {
        "name": "fetch",
        "function": {
            "module": "builtins",
            "class_name": "function",
            "config": "get_file",
            "registered_name": "function",
        },
    },
}
OS_SYSTEM = {"module": "os", "class_name": "system", "config": {"name": "run"}}
TFSM = {
    "module": "keras.layers",
    "class_name": "TFSMLayer",
    "config": {"name": "sm", "filepath": "/tmp/exported"},
}
CUSTOM = {
    "module": None,
    "class_name": "Scale",
    "registered_name": "MyPkg>Scale",
    "config": {"name": "scale"},
}


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        (LAMBDA_GET_FILE, "'get_file'"),
        (OS_SYSTEM, "module 'os', outside Keras"),
        (TFSM, "a TensorFlow SavedModel"),
    ],
    ids=["get-file-gadget", "os-system", "tfsmlayer"],
)
def test_a_model_that_would_run_code_fails_the_ci_gate(
    tmp_path: Path, layer: dict[str, Any], words: str
) -> None:
    folder = _with_layer(tmp_path, layer)
    done = run_subprocess(["diagnose", "model.keras", "train.npz"], cwd=folder)
    assert done.returncode == 1, done
    assert "KF003 error  unsafe-model" in done.stdout
    assert words in done.stdout
    assert "Traceback" not in done.stderr


def test_a_registered_custom_class_is_a_warning_that_passes_the_default_gate(
    tmp_path: Path,
) -> None:
    folder = _with_layer(tmp_path, CUSTOM)
    done = run_subprocess(["diagnose", "model.keras", "train.npz"], cwd=folder)
    assert done.returncode == 0, done
    assert "KF003 warning  unsafe-model" in done.stdout
    assert "'MyPkg>Scale'" in done.stdout
    strict = run_subprocess(
        ["diagnose", "model.keras", "train.npz", "--fail-on", "warning"], cwd=folder
    )
    assert strict.returncode == 1


def test_code_and_a_custom_class_in_one_model_give_an_error_and_a_warning(
    tmp_path: Path,
) -> None:
    both = _with_layer(tmp_path, OS_SYSTEM, CUSTOM)
    done = run_subprocess(["diagnose", "model.keras", "--format", "json"], cwd=both)
    assert done.returncode == 1, done
    report = json.loads(done.stdout)
    kf003 = [f for r in report["results"] for f in r["findings"] if f["code"] == "KF003"]
    assert sorted(f["severity"] for f in kf003) == ["error", "warning"]
    assert report["status"] == "fail"
    ignored = run_subprocess(["diagnose", "model.keras", "--ignore", "KF003"], cwd=both)
    assert ignored.returncode == 0, ignored
