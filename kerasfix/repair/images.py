"""Repairing an image-class folder (KF504, unsafe): the odd images converted to the folder's
usual channel mode and resized to the size training loads them at (KF504's target), written
into DIR with the folder's layout.

Every other file Keras indexes is carried as it is (hard-linked, or copied byte for byte across
filesystems: repair/carry.py), so DIR holds a complete dataset to
point `image_dataset_from_directory` at; unreadable files (KF505, no repair) are copied as
they are and stay reported. Each file is written atomically (atomic.py); the inputs are only
read.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from kerasfix.errors import DataReadError
from kerasfix.findings import Finding
from kerasfix.loaders.base import ArrayRef, DataFile
from kerasfix.loaders.images import (
    MODE_NAMES,
    TOO_LARGE,
    ImageSurvey,
    iter_class_files,
    read_regular,
)
from kerasfix.model.contract import ModelContract
from kerasfix.options import DiagnoseOptions
from kerasfix.repair.atomic import atomic_path, sha256_file
from kerasfix.repair.carry import link_or_copy
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


# A source image larger than this is copied as it is rather than decoded for conversion.
MAX_CONVERT_BYTES = 256 * 1024 * 1024


def _pil_mode(image: Any) -> Any:
    """16-bit and 32-bit grayscale scaled to 8 bits first: Pillow's convert clips I;16 values
    to 255 (a 16-bit PNG would come out all white)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        pixels = np.asarray(image)
        if image.mode == "I" and int(pixels.max(initial=0)) <= 255:
            return Image.fromarray(pixels.astype(np.uint8), "L")
        return Image.fromarray((pixels.astype(np.uint32) >> 8).astype(np.uint8), "L")
    return image


def _convert(data: bytes, ext: str, size: tuple[int, int], channels: int) -> tuple[Any, str | None]:
    """Decode `data` (the source's bytes), convert and resize for a file ending in `ext` (same
    name, same format): the image and why the target mode could not be kept (a JPEG holds no
    alpha, a BMP no grayscale+alpha: the nearest mode is written), or None. Raises whatever
    Pillow raises for damaged data; writes nothing."""
    import io

    from PIL import Image

    height, width = size
    mode = PIL_MODES.get(channels, "RGB")
    fmt = SAVE_FORMATS.get(ext, "PNG")
    note = None
    if (fmt == "JPEG" and mode in ("LA", "RGBA")) or (fmt == "BMP" and mode == "LA"):
        note = f"{fmt} cannot hold alpha: written as {mode[:-1]}"
        mode = mode[:-1]
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # damaged data fails here
        fixed = _pil_mode(image).convert(mode)
    if fixed.size != (width, height):
        fixed = fixed.resize((width, height), Image.Resampling.BILINEAR)
    return fixed, note


def _save(image: Any, final: str) -> None:
    fmt = SAVE_FORMATS.get(os.path.splitext(final)[1].lower(), "PNG")
    with atomic_path(final) as tmp:
        options: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
        image.save(tmp, fmt, **options)


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
    not_converted: list[dict[str, str]] = []
    not_copied: list[dict[str, str]] = []
    carried = {"hardlink": 0, "copy": 0}
    for _, relative in iter_class_files(root):
        source = os.path.join(root, relative)
        final = os.path.join(out_dir, output, relative)
        info = infos.get(relative)
        if info is not None and ((info.height, info.width) != size or info.channels != channels):
            try:
                content = read_regular(source, MAX_CONVERT_BYTES)
            except DataReadError as exc:  # a link or not a regular file (now), or too large
                if not exc.reason.startswith(TOO_LARGE):
                    not_copied.append({"path": relative, "reason": exc.reason})
                    continue
                not_converted.append({"path": relative, "reason": exc.reason})
                content = None
            converted: Any = None
            if content is not None:
                ext = os.path.splitext(relative)[1].lower()
                try:
                    converted, note = _convert(content, ext, size, channels)
                except Exception as exc:  # Pillow and zlib raise many types for damaged data
                    text = str(exc).strip().splitlines()
                    reason = text[0] if text else type(exc).__name__
                    not_converted.append({"path": relative, "reason": reason})
            if converted is not None and content is not None:
                _save(converted, final)  # a write error is the run's (cannot write under DIR)
                changed.append(
                    {
                        "path": relative,
                        "from": f"{info.width}x{info.height} "
                        f"{MODE_NAMES.get(info.channels, info.mode)}",
                        "to": f"{size[1]}x{size[0]} {MODE_NAMES.get(channels, str(channels))}",
                        "sha256_input": hashlib.sha256(content).hexdigest(),
                        "sha256_output": sha256_file(final),
                        **({"note": note} if note else {}),
                    }
                )
                continue
            # not converted: carried as it is, below
        try:
            # Unchanged: a hard link (a copy across filesystems), as repair carries files.
            how, _ = link_or_copy(source, final)
        except DataReadError as exc:  # a link or not a regular file: never followed or read
            not_copied.append({"path": relative, "reason": exc.reason})
            continue
        carried[how] += 1
    return {
        "input": root,
        "output": output,
        "format": "images",
        "actions": [a.to_dict() for a in actions],
        "images_changed": changed,
        "images_linked": carried["hardlink"],
        "images_copied": carried["copy"],
        "images_not_converted": not_converted,
        "images_not_copied": not_copied,
    }
