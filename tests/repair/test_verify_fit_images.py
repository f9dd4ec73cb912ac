"""`repair --verify-fit` on image-class folders: one real training step on the folder as
image_dataset_from_directory loads it at the model's size; a failure prints Keras's own line,
never the call signature or graph-node dump around it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.tensorflow

MODEL = FIXTURES / "KF504" / "negative" / "model.keras"  # Conv2D, (None, 8, 8, 3), 3 classes
DUMPS = ("kwargs=", "inspect._empty", "[Op:", "{{node", "Traceback", "Arguments received")


def _folder(root: Path, sizes: dict[str, tuple[int, int]], mode: str = "RGB") -> None:
    for relative, (width, height) in sizes.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        channels = {"L": 1, "RGB": 3}[mode]
        pixels = np.full((height, width, channels), 127, dtype=np.uint8)
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)


def test_verify_fit_trains_an_image_folder_at_the_models_size(tmp_path: Path) -> None:
    """10x10 images, an 8x8 model, no --image-size: loaded at 8x8 as training must load them,
    and one step trains."""
    shutil.copy(MODEL, tmp_path / "model.keras")
    _folder(
        tmp_path / "images", {f"{c}/{i}.png": (10, 10) for c in ("cat", "dog") for i in range(3)}
    )
    outcome = run_cli(
        ["repair", "model.keras", "images", "--out", "out", "--verify-fit", "--format", "json"],
        0,
        cwd=tmp_path,
    )
    fit = json.loads(outcome.stdout)["verify_fit"]
    assert fit["status"] == "pass" and fit["rows"] == 6, fit
    assert np.isfinite(fit["loss"])


def test_verify_fit_trains_the_repaired_folder(tmp_path: Path) -> None:
    """A folder mixing sizes and channels, repaired (--unsafe-fixes) into --out: the step
    trains on DIR's folder, which holds every image."""
    shutil.copy(MODEL, tmp_path / "model.keras")
    _folder(tmp_path / "images", {"cat/0.png": (8, 8), "cat/1.png": (12, 9), "dog/0.png": (8, 8)})
    _folder(tmp_path / "images", {"dog/1.png": (8, 8)}, mode="L")
    outcome = run_cli(
        ["repair", "model.keras", "images", "--out", "out", "--unsafe-fixes", "--verify-fit"],
        0,
        cwd=tmp_path,
    )
    assert "verify-fit: one training step on 4 rows" in outcome.stdout
    assert sorted(p.name for p in (tmp_path / "out" / "images").rglob("*.png")) == [
        "0.png",
        "0.png",
        "1.png",
        "1.png",
    ]


def test_a_failing_image_folder_prints_keras_own_first_line(tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / "images" / "folder-still-unfit", folder)
    outcome = run_cli(
        [
            "repair",
            "model.keras",
            "images",
            "--color-mode",
            "grayscale",
            "--unsafe-fixes",
            "--out",
            "out",
            "--verify-fit",
        ],
        1,
        cwd=folder,
    )
    [line] = [line for line in outcome.stdout.splitlines() if line.startswith("verify-fit")]
    assert line.startswith("verify-fit failed: Input 0 ")
    assert "expected axis -1 of input shape to have value 3" in line, line
    assert not any(dump in outcome.stdout for dump in DUMPS), outcome.stdout


def test_a_graph_error_prints_tensorflows_message_not_the_node(tmp_path: Path) -> None:
    """Token ids past the Embedding (KF201, not repaired without --oov-id): TensorFlow's
    gather fails inside the traced step; the line is its message, not `[[{{node ...}}]]`."""
    folder = tmp_path / "case"
    shutil.copytree(FIXTURES / "oov" / "jsonl-past-vocabulary", folder)
    outcome = run_cli(
        ["repair", "model.keras", "train.jsonl", "--out", "out", "--verify-fit"], 1, cwd=folder
    )
    [line] = [line for line in outcome.stdout.splitlines() if line.startswith("verify-fit")]
    assert line.startswith("verify-fit failed: indices["), line
    assert line.endswith("is not in [0, 10)"), line
    assert not any(dump in outcome.stdout for dump in DUMPS), outcome.stdout
