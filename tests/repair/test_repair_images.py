"""Repairing an image-class folder (KF504): odd images converted and resized into DIR."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
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
    assert entry["images_linked"] + entry["images_copied"] == 5
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
        ["repair", "model.keras", "images", "--out", "out", "--image-size", "8x8"],
        expected_code=1,
        cwd=folder,
    )
    assert "pass --unsafe-fixes" in outcome.stdout
    assert "convert_images" in outcome.stdout
    manifest = json.loads((folder / "out" / "kerasfix-repair.json").read_text())
    assert manifest["files"] == []
    # No image converted: the folder is carried as it is, image for image the same files.
    [carried] = manifest["carried"]
    assert carried["images_linked"] == len(list((folder / "images").rglob("*.*")))
    for image in (folder / "images").rglob("*.*"):
        assert os.path.samefile(image, folder / "out" / image.relative_to(folder))
    run_cli(
        [
            "repair",
            "model.keras",
            "images",
            "--out",
            "only",
            "--image-size",
            "8x8",
            "--changed-only",
        ],
        expected_code=1,
        cwd=folder,
    )
    written = [p.relative_to(folder / "only") for p in (folder / "only").rglob("*")]
    assert written == [Path("kerasfix-repair.json")]  # the manifest alone: no image


def test_repair_never_follows_links_or_reads_special_files(tmp_path: Path) -> None:
    folder = _copy_case(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the dataset")
    (folder / "images" / "cat" / "secret.png").symlink_to(secret)
    (folder / "images" / "cat" / "zero.png").symlink_to("/dev/zero")
    os.mkfifo(folder / "images" / "dog" / "fifo.png")
    args = ["repair", "model.keras", "images", "--out", "out", "--image-size", "8x8"]
    run_cli([*args, "--unsafe-fixes"], expected_code=1, cwd=folder)
    out = folder / "out" / "images"
    for name in ("cat/secret.png", "cat/zero.png", "dog/fifo.png"):
        assert not (out / name).exists() and not (out / name).is_symlink(), name
    assert (out / "cat" / "0.png").is_file()
    manifest = json.loads((folder / "out" / "kerasfix-repair.json").read_text())
    (entry,) = manifest["files"]
    skipped = {s["path"]: s["reason"] for s in entry["images_not_copied"]}
    assert set(skipped) == {"cat/secret.png", "cat/zero.png", "dog/fifo.png"}
    assert "symbolic link" in skipped["cat/zero.png"]
    assert skipped["dog/fifo.png"] == "not a regular file"


MODEL = FIXTURES / "KF504" / "negative" / "model.keras"  # Conv2D, (None, 8, 8, 3)


def _save(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _repair(folder: Path, code: int) -> dict[str, Any]:
    shutil.copy(MODEL, folder / "model.keras")
    args = ["repair", "model.keras", "images", "--out", "out", "--image-size", "8x8"]
    run_cli([*args, "--unsafe-fixes"], expected_code=code, cwd=folder)
    manifest: dict[str, Any] = json.loads((folder / "out" / "kerasfix-repair.json").read_text())
    (entry,) = manifest["files"]
    return entry  # type: ignore[no-any-return]


def _rgb(size: tuple[int, int] = (8, 8)) -> Image.Image:
    return Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8), "RGB")


def test_a_16_bit_png_keeps_its_brightness_when_converted(tmp_path: Path) -> None:
    for name in ("cat/0.png", "cat/1.png", "dog/0.png"):
        _save(tmp_path / "images" / name, _rgb())
    _save(
        tmp_path / "images" / "dog" / "deep.png", Image.fromarray(np.full((8, 8), 32768, np.uint16))
    )
    entry = _repair(tmp_path, 0)
    assert [c["path"] for c in entry["images_changed"]] == ["dog/deep.png"]
    with Image.open(tmp_path / "out" / "images" / "dog" / "deep.png") as out:
        assert out.mode == "RGB"
        assert np.asarray(out).max() == 128


def test_damaged_data_behind_a_good_header_is_copied_and_the_repair_goes_on(
    tmp_path: Path,
) -> None:
    for name in ("cat/0.png", "cat/1.png", "dog/0.png"):
        _save(tmp_path / "images" / name, _rgb())
    buffer = io.BytesIO()
    _rgb((12, 12)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"IDAT") + 4
    data[start : start + 8] = b"\xff" * 8  # the compressed pixels, not the header or the end
    (tmp_path / "images" / "cat" / "bad.png").write_bytes(bytes(data))
    _save(tmp_path / "images" / "dog" / "wide.png", _rgb((12, 8)))
    entry = _repair(tmp_path, 1)  # the damaged one still differs: KF504 stays
    assert [c["path"] for c in entry["images_not_converted"]] == ["cat/bad.png"]
    assert [c["path"] for c in entry["images_changed"]] == ["dog/wide.png"]
    assert (tmp_path / "out" / "images" / "cat" / "bad.png").read_bytes() == bytes(data)


def test_a_bmp_aimed_at_grayscale_alpha_is_written_without_alpha(tmp_path: Path) -> None:
    gray_alpha = Image.fromarray(np.full((8, 8, 3), 90, np.uint8), "RGB").convert("LA")
    for name in ("cat/0.png", "cat/1.png", "dog/0.png"):
        _save(tmp_path / "images" / name, gray_alpha)
    _save(tmp_path / "images" / "dog" / "odd.bmp", _rgb())
    entry = _repair(tmp_path, 1)
    (changed,) = entry["images_changed"]
    assert changed["path"] == "dog/odd.bmp"
    assert "BMP cannot hold alpha" in changed["note"]
    with Image.open(tmp_path / "out" / "images" / "dog" / "odd.bmp") as out:
        assert out.mode == "L"
