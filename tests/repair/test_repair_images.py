"""Repairing an image-class folder (KF504): odd images converted and resized into DIR."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from tests.conftest import FIXTURES, run_cli

CASE = FIXTURES / "images" / "mixed"


def _copy_case(tmp_path: Path) -> Path:
    shutil.copy(CASE / "model.keras", tmp_path / "model.keras")
    shutil.copytree(CASE / "images", tmp_path / "images")
    return tmp_path


def test_unsafe_repair_converts_and_resizes_keeping_the_layout(tmp_path: Path) -> None:
    folder = _copy_case(tmp_path)
    before = {p: p.read_bytes() for p in (folder / "images").rglob("*") if p.is_file()}
    args = ["repair", "model.keras", "images", "--out", "out", "--image-size", "8x8"]
    # KF505 (the truncated JPEG) has no repair: it stays, so the run still exits 1.
    run_cli([*args, "--unsafe-fixes"], expected_code=1, cwd=folder)
    after = {p: p.read_bytes() for p in (folder / "images").rglob("*") if p.is_file()}
    assert before == after  # inputs untouched
    written = sorted(str(p.relative_to(folder / "out")) for p in (folder / "out").rglob("*.*"))
    assert written == [
        "images/cat/0.png",
        "images/cat/1.png",
        "images/cat/2.png",
        "images/dog/0.png",
        "images/dog/1.png",
        "images/dog/2.png",
        "images/dog/3.jpg",
        "kerasfix-repair.json",
    ]
    with Image.open(folder / "out" / "images" / "cat" / "2.png") as gray:
        assert (gray.mode, gray.size) == ("RGB", (8, 8))
    with Image.open(folder / "out" / "images" / "dog" / "2.png") as odd:
        assert (odd.mode, odd.size) == ("RGB", (8, 8))
    manifest = json.loads((folder / "out" / "kerasfix-repair.json").read_text())
    (entry,) = manifest["files"]
    assert [c["path"] for c in entry["images_changed"]] == ["cat/2.png", "dog/2.png"]
    assert entry["images_copied"] == 5
    assert manifest["verification"]["status"] == "pass"
    report = run_cli(
        ["diagnose", "model.keras", "out/images", "--image-size", "8x8", "--format", "json"],
        expected_code=1,
        cwd=folder,
    )
    codes = {f["code"] for r in json.loads(report.stdout)["results"] for f in r["findings"]}
    assert codes == {"KF505"}


def test_without_unsafe_fixes_nothing_is_converted(tmp_path: Path) -> None:
    folder = _copy_case(tmp_path)
    outcome = run_cli(
        ["repair", "model.keras", "images", "--out", "out", "--image-size", "8x8", "--dry-run"],
        expected_code=1,
        cwd=folder,
    )
    assert "convert_images" in outcome.stdout
    assert not (folder / "out").exists()
