"""Image-class folders as DATA: read as image_dataset_from_directory reads them, from headers."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from kerasfix.loaders.discover import discover
from kerasfix.loaders.images import iter_class_files, read_image_folder
from tests.conftest import FIXTURES, run_cli, run_subprocess

MODEL = FIXTURES / "KF504" / "negative" / "model.keras"  # Conv2D, (None, 8, 8, 3), 3 units


def _image(path: Path, size: tuple[int, int] = (8, 8), mode: str = "RGB", fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.zeros((size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path, fmt)


def _report(args: list[str], code: int = 1) -> dict[str, Any]:
    outcome = run_cli(["diagnose", str(MODEL), *args, "--format", "json"], expected_code=code)
    report: dict[str, Any] = json.loads(outcome.stdout)
    return report


def _codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for r in report["results"] for f in r["findings"]}


def test_classes_and_files_follow_keras_order(tmp_path: Path) -> None:
    for name in ("b/2.png", "b/1.JPG", "a/x/3.png", "a/0.bmp", ".hidden/9.png", "a/notes.txt"):
        if name.endswith("txt"):
            (tmp_path / name).write_text("notes")
        else:
            _image(tmp_path / name, fmt="JPEG" if name.endswith("JPG") else name[-3:].upper())
    _image(tmp_path / "root.png")  # files in the root are not indexed
    assert list(iter_class_files(str(tmp_path))) == [
        (0, "a/0.bmp"),
        (0, "a/x/3.png"),
        (1, "b/1.JPG"),
        (1, "b/2.png"),
    ]
    folder = read_image_folder(str(tmp_path), (32, 24))
    assert folder.arrays["x"].shape == (4, 32, 24, 3)
    assert folder.arrays["y"].shape == (4,)


def test_an_image_folder_inside_a_data_folder_is_one_unit(tmp_path: Path) -> None:
    _image(tmp_path / "data" / "images" / "cat" / "0.png")
    np.save(tmp_path / "data" / "x.npy", np.zeros((2, 8, 8, 3), dtype=np.float32))
    found = list(discover([str(tmp_path / "data")]))
    assert found == [str(tmp_path / "data" / "x.npy"), str(tmp_path / "data" / "images")]


def test_a_folder_is_read_at_the_models_size_and_says_so(tmp_path: Path) -> None:
    # Without --image-size, the folder is read as a pipeline training this model must read
    # it (image_size=(8, 8)), not at Keras's 256x256 default: no KF106, and a note says so.
    _image(tmp_path / "cat" / "0.png", size=(30, 20))
    report = _report([str(tmp_path), "--no-trace"], code=0)
    assert _codes(report) == set()
    x = next(r for r in report["results"] if r["role"] == "x")
    assert x["shape"] == [1, 8, 8, 3]
    (note,) = x["notes"]
    assert "image_size=(8, 8), color_mode='rgb'" in note
    assert "--image-size and --color-mode not given" in note
    text = run_cli(["diagnose", str(MODEL), str(tmp_path), "--no-trace"]).stdout
    assert "note  read as image_dataset_from_directory(" in text


def test_an_explicit_image_size_is_checked_against_the_model(tmp_path: Path) -> None:
    _image(tmp_path / "cat" / "0.png")
    report = _report([str(tmp_path), "--no-trace", "--image-size", "256x256"])
    assert _codes(report) == {"KF106"}
    finding = report["results"][0]["findings"][0]
    assert finding["received"] == [1, 256, 256, 3]
    assert "image_size=(8, 8)" in finding["fix"]
    x = next(r for r in report["results"] if r["role"] == "x")
    assert "--color-mode not given" in x["notes"][0]


def test_channels_and_class_count_are_checked_against_the_model(tmp_path: Path) -> None:
    for label in ("a", "b", "c", "d"):  # 4 classes for a 3-unit softmax
        _image(tmp_path / label / "0.png", mode="L")
    # Keras's default color_mode="rgb" decodes grayscale files to 3 channels: they fit.
    report = _report([str(tmp_path), "--image-size", "8x8"])
    assert _codes(report) == {"KF211"}
    report = _report([str(tmp_path), "--image-size", "8x8", "--color-mode", "grayscale"])
    assert _codes(report) == {"KF107", "KF211"}
    kf107 = next(f for r in report["results"] for f in r["findings"] if f["code"] == "KF107")
    assert "color_mode='rgb'" in kf107["fix"]
    assert "--color-mode rgb (this run used grayscale)" in kf107["fix"]


GRAY_MODEL = FIXTURES / "KF101" / "positive" / "model.h5"  # Conv2D, (None, 8, 8, 1), 3 units


def test_a_grayscale_model_reads_a_folder_as_grayscale_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    for label in ("a", "b", "c"):
        _image(tmp_path / label / "0.png", mode="L")
    args = ["diagnose", str(GRAY_MODEL), str(tmp_path), "--image-size", "8x8", "--format", "json"]
    report = json.loads(run_cli(args, expected_code=0).stdout)
    x = next(r for r in report["results"] if r["role"] == "x")
    assert x["shape"] == [3, 8, 8, 1]
    assert "color_mode='grayscale'" in x["notes"][0]
    # An explicit color_mode is checked against the model.
    report = json.loads(run_cli([*args, "--color-mode", "rgb"], expected_code=1).stdout)
    (finding,) = [f for r in report["results"] for f in r["findings"]]
    assert finding["code"] == "KF107"
    assert finding["received"] == [3, 8, 8, 3]
    assert "color_mode='grayscale'" in finding["fix"]
    run_cli([*args, "--color-mode", "grayscale"], expected_code=0)


def test_an_rgba_folder_fits_a_3_channel_model_by_default(tmp_path: Path) -> None:
    for label in ("a", "b", "c"):
        _image(tmp_path / label / "0.png", mode="RGBA")
    report = _report([str(tmp_path), "--image-size", "8x8"], code=0)
    assert _codes(report) == set()
    report = _report([str(tmp_path), "--image-size", "8x8", "--color-mode", "rgba"])
    assert _codes(report) == {"KF107"}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("text.png", b"not an image at all", "not an image"),
        ("empty.jpg", b"", "an empty file"),
        ("cut.png", "png-cut", "truncated"),
        ("cut.bmp", "bmp-cut", "truncated"),
        ("cut.gif", "gif-cut", "truncated"),
    ],
)
def test_bad_samples_are_kf505_with_the_file_and_reason(
    tmp_path: Path, name: str, content: Any, reason: str
) -> None:
    _image(tmp_path / "cat" / "0.png")
    if isinstance(content, str):
        fmt = content.split("-")[0].upper()
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(buffer, fmt)
        content = buffer.getvalue()[:-10]
    (tmp_path / "cat" / name).write_bytes(content)
    report = _report([str(tmp_path), "--image-size", "8x8"])
    assert _codes(report) == {"KF505"}
    finding = report["results"][0]["findings"][0]
    assert finding["received"] == [f"cat/{name}"]
    assert reason in finding["what"]


def test_rgba_and_odd_sizes_are_counted_with_examples(tmp_path: Path) -> None:
    for i in range(5):
        _image(tmp_path / "cat" / f"{i}.png")
    _image(tmp_path / "cat" / "alpha.png", mode="RGBA")
    _image(tmp_path / "dog" / "wide.jpg", size=(12, 8), fmt="JPEG")
    report = _report([str(tmp_path), "--image-size", "8x8"], code=0)
    (finding,) = report["results"][0]["findings"]
    assert finding["code"] == "KF504"
    assert finding["received"] == {
        "sizes": {"8x8": 6, "12x8": 1},
        "channels": {"3": 6, "4": 1},
    }
    # One short line: counts, the range of sizes, a few files; the full list in details.
    assert finding["what"] == (
        "7 images in 2 class folders mix 2 sizes (8x8 to 12x8) and 2 channel modes (6 RGB, "
        "1 RGBA); 2 images to convert to 8x8 RGB, e.g. cat/alpha.png, dog/wide.jpg"
    )
    assert finding["details"]["examples"] == {"RGBA": ["cat/alpha.png"], "12x8": ["dog/wide.jpg"]}
    assert finding["details"]["images"] == [
        {"path": "cat/alpha.png", "size": "8x8", "channels": 4},
        {"path": "dog/wide.jpg", "size": "12x8", "channels": 3},
    ]


def test_kf504_text_stays_one_short_line_on_a_big_folder(tmp_path: Path) -> None:
    for i in range(40):
        _image(tmp_path / "cat" / f"{i:02d}.png", size=(8 + i % 7, 8 + i % 5))
    report = _report([str(tmp_path), "--image-size", "8x8"], code=0)
    (finding,) = report["results"][0]["findings"]
    odd = [i for i in range(40) if (8 + i % 7, 8 + i % 5) != (8, 8)]
    assert len(finding["details"]["images"]) == len(odd)  # every odd image, in JSON only
    text = run_cli(["diagnose", str(MODEL), str(tmp_path), "--image-size", "8x8"]).stdout
    [what] = [line for line in text.splitlines() if "class folders mix" in line]
    assert len(what) < 200, what
    assert f"and {len(odd) - 3} more" in what and "sizes (8x8 to 14x12)" in what


def test_kf504_resize_target_is_the_image_size_else_the_models(tmp_path: Path) -> None:
    """The odd images are resized to what training loads them at: --image-size when given,
    else the model's own input size, not the folder's most common size."""
    for i in range(4):
        _image(tmp_path / "cat" / f"{i}.png", size=(10, 10))
    _image(tmp_path / "dog" / "0.png", size=(12, 8))
    by_model = _report([str(tmp_path)], code=0)["results"][0]["findings"][0]
    assert by_model["details"]["target"] == {"size": [8, 8], "channels": 3}  # MODEL: 8x8
    assert "5 images to convert to 8x8 RGB" in by_model["what"]
    given = _report([str(tmp_path), "--image-size", "10x10"], code=1)["results"][0]["findings"]
    [kf504] = [f for f in given if f["code"] == "KF504"]
    assert kf504["details"]["target"]["size"] == [10, 10]
    assert "1 image to convert to 10x10 RGB, e.g. dog/0.png" in kf504["what"]


def test_bad_image_size_is_a_usage_error() -> None:
    outcome = run_subprocess(["diagnose", str(MODEL), "--image-size", "8by8"])
    assert outcome.returncode == 2
    assert "Traceback" not in outcome.stderr


def test_inputs_are_left_untouched(tmp_path: Path) -> None:
    source = FIXTURES / "images" / "mixed" / "images"
    shutil.copytree(source, tmp_path / "images")
    before = {p: p.read_bytes() for p in (tmp_path / "images").rglob("*") if p.is_file()}
    _report([str(tmp_path / "images"), "--image-size", "8x8"])
    after = {p: p.read_bytes() for p in (tmp_path / "images").rglob("*") if p.is_file()}
    assert before == after


def _variants(tmp_path: Path) -> list[Path]:
    pixels = np.arange(12 * 10 * 4, dtype=np.uint8).reshape(10, 12, 4)
    made: list[tuple[str, Image.Image, dict[str, Any]]] = [
        ("l.png", Image.fromarray(pixels[..., 0], "L"), {}),
        ("rgb.png", Image.fromarray(pixels[..., :3], "RGB"), {}),
        ("rgba.png", Image.fromarray(pixels, "RGBA"), {}),
        ("la.png", Image.fromarray(pixels[..., :3], "RGB").convert("LA"), {}),
        ("p.png", Image.fromarray(pixels[..., :3], "RGB").convert("P"), {}),
        ("p-trns.png", Image.fromarray(pixels[..., :3], "RGB").convert("P"), {"transparency": 0}),
        ("i16.png", Image.fromarray(pixels[..., 0].astype(np.uint16) * 200), {}),
        ("l.jpg", Image.fromarray(pixels[..., 0], "L"), {}),
        ("rgb.jpg", Image.fromarray(pixels[..., :3], "RGB"), {}),
        ("progressive.jpg", Image.fromarray(pixels[..., :3], "RGB"), {"progressive": True}),
        (
            "exif.jpg",
            Image.fromarray(pixels[..., :3], "RGB"),
            {"exif": b"Exif\x00\x00" + b"x" * 9000},
        ),
        ("cmyk.jpg", Image.fromarray(pixels, "RGBA").convert("CMYK"), {}),
        ("rgb.gif", Image.fromarray(pixels[..., :3], "RGB"), {}),
        ("rgb.bmp", Image.fromarray(pixels[..., :3], "RGB"), {}),
    ]
    paths = []
    for name, picture, options in made:
        picture.save(tmp_path / name, **options)
        paths.append(tmp_path / name)
    return paths


def test_the_fast_header_path_agrees_with_pillow(tmp_path: Path) -> None:
    from kerasfix.loaders.images import MODE_CHANNELS, _pillow_header, read_header

    for path in _variants(tmp_path):
        with open(path, "rb") as fh:
            width, height, mode, fmt = _pillow_header(fh)
        fast = read_header(str(path))
        assert fast[:2] == (width, height) == (12, 10), path.name
        assert fast[3] == fmt, path.name
        assert MODE_CHANNELS[fast[2]] == MODE_CHANNELS[mode], path.name


def test_a_pixel_bomb_and_a_link_are_unreadable_samples(tmp_path: Path) -> None:
    import struct
    import zlib

    _image(tmp_path / "cat" / "0.png")
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    (tmp_path / "cat" / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + end)
    (tmp_path / "cat" / "link.png").symlink_to(tmp_path / "cat" / "0.png")
    report = _report([str(tmp_path), "--image-size", "8x8"])
    (finding,) = report["results"][0]["findings"]
    assert finding["code"] == "KF505"
    assert finding["details"]["reasons"]["cat/bomb.png"].startswith("too many pixels")
    assert "symbolic link" in finding["details"]["reasons"]["cat/link.png"]


def test_the_mixed_folder_fixture_yields_exactly_kf504_and_kf505() -> None:
    # The golden is checked against the real CLI by tests/test_fixtures.py.
    expected = json.loads((FIXTURES / "images" / "mixed" / "expected.json").read_text())
    assert _codes(expected) == {"KF504", "KF505"}
    (result,) = [r for r in expected["results"] if r["key"] == "x"]
    assert result["shape"] == [7, 8, 8, 3]


def test_a_folder_with_data_files_of_its_own_is_not_an_image_dataset(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _image(run / "plots" / "loss.png")
    np.savez(run / "train.npz", x=np.zeros((2, 8, 8, 3), np.float32), y=np.zeros(2, np.int32))
    assert list(discover([str(run)])) == [str(run / "train.npz")]
    report = _report([str(run), "--no-trace"], code=0)
    assert {r["path"] for r in report["results"]} == {str(run / "train.npz")}


def test_classes_whose_images_sit_in_subfolders_are_one_dataset(tmp_path: Path) -> None:
    nested = tmp_path / "nested"
    for label in ("cat", "dog"):
        _image(nested / label / "batch1" / "0.png")
        _image(nested / label / "batch1" / "1.png")
    assert list(discover([str(tmp_path)])) == [str(nested)]
    folder = read_image_folder(str(nested), (8, 8))
    assert folder.survey.class_names == ("cat", "dog")
    assert folder.arrays["x"].shape == (4, 8, 8, 3)


def test_train_and_val_splits_stay_two_datasets(tmp_path: Path) -> None:
    for split in ("train", "val"):
        for label in ("cat", "dog"):
            _image(tmp_path / split / label / "0.png")
    assert list(discover([str(tmp_path)])) == [str(tmp_path / "train"), str(tmp_path / "val")]


def test_a_linked_class_folder_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _image(outside / "0.png")
    data = tmp_path / "data"
    _image(data / "cat" / "0.png")
    (data / "dog").symlink_to(outside, target_is_directory=True)
    assert list(iter_class_files(str(data))) == [(0, "cat/0.png"), (1, "dog")]
    report = _report([str(data), "--image-size", "8x8"])
    (finding,) = report["results"][0]["findings"]
    assert finding["code"] == "KF505"
    assert "symbolic link" in finding["details"]["reasons"]["dog"]


def test_image_folder_data_extensions_match_the_formats_discovery_reads() -> None:
    from kerasfix.loaders.discover import FORMATS, NAMED_ONLY
    from kerasfix.loaders.images import DATA_EXTENSIONS

    assert set(DATA_EXTENSIONS) == set(FORMATS) - set(NAMED_ONLY)


def _png_with_ihdr(length: int, ihdr: bytes, crc_delta: int = 0) -> bytes:
    import struct
    import zlib

    crc = (zlib.crc32(b"IHDR" + ihdr) + crc_delta) & 0xFFFFFFFF
    chunk = struct.pack(">I", length) + b"IHDR" + ihdr + struct.pack(">I", crc)
    idat = zlib.compress(b"\x00" + b"\x00" * 24 * 8)
    body = (
        struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + body + end


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("length", "not 13 bytes long"),
        ("crc", "CRC does not match"),
        ("depth", "bit depth 16 with colour type 3"),
        ("interlace", "interlace method"),
    ],
)
def test_a_corrupt_png_header_is_kf505(tmp_path: Path, case: str, reason: str) -> None:
    import struct

    depth, colour, interlace = (
        (16, 3, 0) if case == "depth" else (8, 2, 2 if case == "interlace" else 0)
    )
    ihdr = struct.pack(">IIBBBBB", 8, 8, depth, colour, 0, 0, interlace)
    content = _png_with_ihdr(14 if case == "length" else 13, ihdr, 1 if case == "crc" else 0)
    _image(tmp_path / "cat" / "0.png")
    (tmp_path / "cat" / "bad.png").write_bytes(content)
    report = _report([str(tmp_path), "--image-size", "8x8"])
    (finding,) = report["results"][0]["findings"]
    assert finding["code"] == "KF505"
    assert reason in finding["details"]["reasons"]["cat/bad.png"]


def _jpeg(**options: Any) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", **options)
    return buffer.getvalue()


def test_hidden_image_files_are_indexed_as_keras_does(tmp_path: Path) -> None:
    _image(tmp_path / "cat" / "0.png")
    (tmp_path / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    report = _report([str(tmp_path), "--image-size", "8x8"])
    (result,) = [r for r in report["results"] if r["key"] == "x"]
    assert result["shape"][0] == 2  # Keras lists the AppleDouble twin and fails decoding it
    (finding,) = result["findings"]
    assert finding["code"] == "KF505"
    assert finding["received"] == ["cat/._0.png"]


def test_a_format_tensorflow_cannot_decode_is_kf505(tmp_path: Path) -> None:
    _image(tmp_path / "cat" / "0.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "cat" / "scan.png", "TIFF")
    report = _report([str(tmp_path), "--image-size", "8x8"])
    (finding,) = report["results"][0]["findings"]
    assert finding["code"] == "KF505"
    assert "a TIFF image" in finding["details"]["reasons"]["cat/scan.png"]


def test_a_jpeg_with_data_after_its_end_marker_is_readable(tmp_path: Path) -> None:
    _image(tmp_path / "cat" / "0.png")
    trailer = b"\x00\x00\x00\x18ftypmp42" + bytes(range(255)) * 400  # no 0xFF: no EOI in it
    (tmp_path / "cat" / "motion.jpg").write_bytes(_jpeg() + trailer)
    _report([str(tmp_path), "--image-size", "8x8"], code=0)


def test_a_cut_jpeg_is_kf505_even_with_an_end_marker_in_its_exif(tmp_path: Path) -> None:
    _image(tmp_path / "cat" / "0.png")
    exif = b"Exif\x00\x00" + b"thumb\xff\xd8\xff\xd9" * 4  # a thumbnail's own EOI
    (tmp_path / "cat" / "cut.jpg").write_bytes(_jpeg(exif=exif)[:-40])
    report = _report([str(tmp_path), "--image-size", "8x8"])
    (finding,) = report["results"][0]["findings"]
    assert "truncated" in finding["details"]["reasons"]["cat/cut.jpg"]


def test_a_dataset_named_through_a_link_is_read(tmp_path: Path) -> None:
    _image(tmp_path / "real" / "cat" / "0.png")
    (tmp_path / "named").symlink_to(tmp_path / "real", target_is_directory=True)
    assert list(discover([str(tmp_path / "named")])) == [str(tmp_path / "named")]
