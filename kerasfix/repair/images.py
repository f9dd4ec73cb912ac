"""Repairing an image-class folder (KF504, unsafe): the odd images converted to the folder's
usual channel mode and resized to its usual size, written into DIR with the folder's layout.

Every other file Keras indexes is copied byte for byte, so DIR holds a complete dataset to
point `image_dataset_from_directory` at; unreadable files (KF505, no repair) are copied as
they are and stay reported. Each file is written atomically (atomic.py); the inputs are only
read.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from kerasfix.findings import Finding
from kerasfix.loaders.base import ArrayRef, DataFile
from kerasfix.loaders.images import MODE_NAMES, ImageSurvey, iter_class_files
from kerasfix.model.contract import ModelContract
from kerasfix.options import DiagnoseOptions
from kerasfix.repair.atomic import atomic_path, sha256_file
from kerasfix.repair.plan import RepairAction

PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
# Pillow's writer for each extension image_dataset_from_directory indexes.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF"}


def plan_convert(
    finding: Finding, ref: ArrayRef, contract: ModelContract, options: DiagnoseOptions
) -> list[RepairAction]:
    """KF504 -> one action for the whole folder, with what it will change."""
    target = finding.details["target"]
    height, width = target["size"]
    sizes: dict[str, int] = finding.received["sizes"]
    modes: dict[str, int] = finding.received["channels"]
    resized = sum(n for size, n in sizes.items() if size != f"{width}x{height}")
    converted = sum(n for channels, n in modes.items() if int(channels) != target["channels"])
    return [
        RepairAction(
            code=finding.code,
            action="convert_images",
            key=ref.key,
            applicability=finding.applicability.value,
            params={"size": [height, width], "channels": target["channels"]},
            lost={"images_resized": resized, "images_converted": converted},
            description=finding.fix,
        )
    ]


def _convert(source: str, final: str, size: tuple[int, int], channels: int) -> None:
    from PIL import Image

    height, width = size
    ext = os.path.splitext(final)[1].lower()
    mode = PIL_MODES.get(channels, "RGB")
    if ext in (".jpg", ".jpeg") and mode in ("LA", "RGBA"):
        mode = mode[:-1]  # JPEG holds no alpha
    with Image.open(source) as image:
        fixed = image.convert(mode)
        if fixed.size != (width, height):
            fixed = fixed.resize((width, height), Image.Resampling.BILINEAR)
        with atomic_path(final) as tmp:
            options: dict[str, Any] = {"quality": 95} if SAVE_FORMATS.get(ext) == "JPEG" else {}
            fixed.save(tmp, SAVE_FORMATS.get(ext, "PNG"), **options)


def _copy(source: str, final: str) -> None:
    with atomic_path(final) as tmp:
        shutil.copyfile(source, tmp)


def write_folder(
    root: str, output: str, out_dir: str, data: DataFile, actions: list[RepairAction]
) -> dict[str, Any]:
    """Write DIR/output/<class>/...: converted images and byte copies; the manifest entry."""
    survey: ImageSurvey = data.survey
    action = next((a for a in actions if a.action == "convert_images"), None)
    if action is None:  # only KF504 plans writes of image folders
        raise ValueError(f"no image conversion planned for {root}")
    size = (int(action.params["size"][0]), int(action.params["size"][1]))
    channels = int(action.params["channels"])
    infos = {info.path: info for info in survey.images}
    changed: list[dict[str, Any]] = []
    copied = 0
    for _, relative in iter_class_files(root):
        source = os.path.join(root, relative)
        final = os.path.join(out_dir, output, relative)
        info = infos.get(relative)
        if info is None or ((info.height, info.width) == size and info.channels == channels):
            _copy(source, final)
            copied += 1
            continue
        _convert(source, final, size, channels)
        changed.append(
            {
                "path": relative,
                "from": f"{info.width}x{info.height} {MODE_NAMES.get(info.channels, info.mode)}",
                "to": f"{size[1]}x{size[0]} {MODE_NAMES.get(channels, str(channels))}",
                "sha256_input": sha256_file(source),
                "sha256_output": sha256_file(final),
            }
        )
    return {
        "input": root,
        "output": output,
        "format": "images",
        "actions": [a.to_dict() for a in actions],
        "images_changed": changed,
        "images_copied": copied,
    }
