"""Image-folder benchmark: `kerasfix diagnose MODEL FOLDER` against decoding every image with
Keras's own `keras.utils.load_img`.

Generates (not committed) bench/out/images/: 10,000 seeded 256x256 RGB JPEGs in 10 class
folders, and bench/out/images-model.keras (Conv2D on (None, 256, 256, 3), global pooling,
10 classes), so diagnose finds nothing and never imports TensorFlow. Times the two whole
commands alternately in the same run, files in the page cache. Writes the "Image folders"
section of docs/benchmarks.md.

    .venv/bin/python bench/images.py [--images 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from benchdoc import KERASFIX, replace_section, timed

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
CLASSES = 10

# The baseline: every image decoded by Keras's own loader (img_to_array forces the decode;
# load_img alone leaves an RGB JPEG undecoded).
LOAD_IMG = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
root = sys.argv[1]
n = 0
for label in sorted(os.listdir(root)):
    for name in sorted(os.listdir(os.path.join(root, label))):
        keras.utils.img_to_array(keras.utils.load_img(os.path.join(root, label, name)))
        n += 1
sys.stderr.write("DECODED=%d\\n" % n)
"""


def generate(folder: Path, count: int) -> None:
    from PIL import Image

    marker = folder.parent / f"{folder.name}.complete-{count}"
    if marker.exists():
        return
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 255, 256, dtype=np.float32)
    base = (grid[None, :, None] + grid[:, None, None]) / 2
    for i in range(count):
        label = folder / f"class{i % CLASSES:02d}"
        label.mkdir(parents=True, exist_ok=True)
        noise = rng.integers(0, 32, size=(256, 256, 3), dtype=np.uint8)
        pixels = (base + noise).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(label / f"{i:05d}.jpg", quality=90)
    marker.write_text("")


def model(path: Path) -> None:
    if path.exists():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    inp = keras.Input(shape=(256, 256, 3))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    built = keras.Model(inp, keras.layers.Dense(CLASSES, activation="softmax")(h))
    built.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    built.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = OUT / "images"
    model_path = OUT / "images-model.keras"
    OUT.mkdir(parents=True, exist_ok=True)
    generate(folder, args.images)
    model(model_path)
    rel_folder = folder.relative_to(ROOT)
    rel_model = model_path.relative_to(ROOT)
    ours = [sys.executable, "-c", KERASFIX, "diagnose", str(rel_model), str(rel_folder)]
    floor = [sys.executable, "-c", LOAD_IMG, str(rel_folder)]
    times: dict[str, list[float]] = {"kerasfix": [], "load_img": []}
    notes: dict[str, str] = {}
    for _ in range(args.runs):
        for name, cmd in (("kerasfix", ours), ("load_img", floor)):
            seconds, stderr = timed(cmd, ROOT)
            times[name].append(seconds)
            notes[name] = stderr
            print(f"{name}: {seconds:.2f} s", file=sys.stderr)
    assert "EXIT=0" in notes["kerasfix"], notes["kerasfix"][-2000:]
    assert f"DECODED={args.images}" in notes["load_img"], notes["load_img"][-2000:]
    tf_imported = "TENSORFLOW_IMPORTED=True" in notes["kerasfix"]
    ours_s = statistics.median(times["kerasfix"])
    floor_s = statistics.median(times["load_img"])
    speedup = floor_s / ours_s
    load = os.getloadavg()[0]
    size = sum(p.stat().st_size for p in folder.rglob("*.jpg"))
    rows = "\n".join(
        f"| {label} | {statistics.median(t):.2f} | {', '.join(f'{s:.2f}' for s in t)} |"
        for label, t in (
            (f"`kerasfix diagnose {rel_model} {rel_folder}`", times["kerasfix"]),
            (f"decode each image with `keras.utils.load_img` ({rel_folder})", times["load_img"]),
        )
    )
    body = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.images:,} generated 256x256 RGB JPEGs in "
        f"{CLASSES} class folders ({size / 2**20:.0f} MiB), median of {args.runs} alternating "
        "runs of each whole command, files in the page cache; 1-minute load average "
        f"{load:.1f} at the end (other jobs share the cores; alternating keeps the ratio "
        "fair).\n\n"
        "| command | median s | runs s |\n|---|---|---|\n"
        f"{rows}\n\n"
        f"kerasfix surveys the folder **{speedup:.1f}x** faster than decoding it with "
        "`load_img` (goal: at least 10x); TensorFlow imported by kerasfix: "
        f"{'yes' if tf_imported else 'no'}. It reads each image's first 4 KiB (the PNG "
        "IHDR or JPEG frame header: size and channels; Pillow reads any other header) and "
        "last 64 bytes (the format's end marker, for truncation); it decodes no pixels.\n\n"
        "The baseline is `python -c` of a script that imports keras and runs "
        "`keras.utils.img_to_array(keras.utils.load_img(path))` on every file in sorted order "
        "(`img_to_array` forces the decode; `load_img` alone leaves an RGB JPEG lazy). "
        "Reproduce: `.venv/bin/python bench/images.py` (writes ~"
        f"{size / 2**20:.0f} MiB under bench/out/).\n"
    )
    DOC.write_text(replace_section(DOC.read_text(), "Image folders", body))
    print(f"speedup {speedup:.1f}x", file=sys.stderr)


if __name__ == "__main__":
    main()
