"""Image-class folders (`root/<class>/*.png|jpg|...`) as `keras.utils.image_dataset_from_directory`
reads them, surveyed from image headers without decoding a pixel.

As Keras does (keras/src/utils/dataset_utils.py, image_dataset_utils.py): the classes are the
root's subfolders in sorted order, hidden ones skipped; each class folder is walked recursively,
sorted, keeping `.bmp .gif .jpeg .jpg .png` (any case); files directly in the root are not
indexed. Every image is resized to `image_size` (default 256x256), so the folder reads as
`x` of shape `(N, H, W, C)` and `y` of shape `(N,)` (int class indices).

Each file costs one open and two positioned reads: its first 4 KiB, where a PNG's IHDR and
(almost always) a JPEG's frame header give size and channels, read directly as Pillow's
plugins read them; any other header (GIF, BMP, a JPEG whose frame header lies past a large
EXIF block) is read by Pillow's lazy `Image.open`. Truncation is caught without decoding by
checking that the file ends the way its format must end (JPEG EOI marker, PNG IEND chunk, GIF
trailer, BMP's declared file size); damage inside the compressed data is not (that needs a
full decode).
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerasfix.errors import DataReadError
from kerasfix.loaders.base import ArrayRef, DataFile
from kerasfix.loaders.tfrecord import is_tfrecord_name

IMAGE_FORMAT = "images"
# keras.utils.image_dataset_from_directory's ALLOWLIST_FORMATS.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# image_dataset_from_directory's default image_size.
DEFAULT_IMAGE_SIZE = (256, 256)
# How many example files a finding names.
EXAMPLES = 3

# Channels TensorFlow's decode_image gives for each Pillow mode (channels=0: the file's own).
MODE_CHANNELS = {
    "1": 1,
    "L": 1,
    "I": 1,
    "I;16": 1,
    "I;16B": 1,
    "I;16L": 1,
    "F": 1,
    "LA": 2,
    "La": 2,
    "P": 3,
    "RGB": 3,
    "YCbCr": 3,
    "RGBA": 4,
    "RGBa": 4,
    "CMYK": 4,
}
MODE_NAMES = {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA"}

_ENDINGS = {
    "JPEG": (b"\xff\xd9",),
    "PNG": (b"IEND\xaeB`\x82",),
    "GIF": (b"\x3b",),
}


@dataclass(frozen=True)
class ImageInfo:
    """One image file as its header describes it."""

    path: str  # relative to the folder
    label: int
    width: int
    height: int
    channels: int
    mode: str


@dataclass
class ImageSurvey:
    """What the headers of an image-class folder say: every readable image, every bad file."""

    root: str
    class_names: tuple[str, ...]
    images: list[ImageInfo] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
    # How the folder is read (image_dataset_from_directory's arguments): channels_first
    # yields (N, C, H, W); label_mode "categorical" yields one-hot labels.
    data_format: str = "channels_last"
    label_mode: str = "int"

    @property
    def channels(self) -> int:
        """The folder's usual channel count (the most common; RGB on a tie or when empty)."""
        counts = Counter(i.channels for i in self.images)
        if not counts:
            return 3
        return max(counts, key=lambda c: (counts[c], c == 3))

    def sizes(self) -> Counter[tuple[int, int]]:
        return Counter((i.height, i.width) for i in self.images)

    def modes(self) -> Counter[int]:
        return Counter(i.channels for i in self.images)


def _is_image(name: str) -> bool:
    """A file Keras indexes: by extension alone. Hidden files are indexed too (Keras filters
    hidden class folders, not files), so macOS's `._x.png` AppleDouble twins are read (and
    fail) at training: they are KF505 here, and counted in N as Keras counts them."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def class_folders(root: str) -> list[str]:
    """The root's non-hidden subfolders, sorted, as Keras lists them (a link to a folder is
    listed, as Keras lists it, but never followed: see iter_class_files)."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(root, n))]


# Extensions of the data files kerasfix reads from folders (discover.FORMATS, less the
# named-only .json): a folder holding one at its root is a data folder, not a dataset of
# images, whatever its subfolders hold (`run/train.npz` beside `run/plots/loss.png`).
DATA_EXTENSIONS = (
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".jsonl",
    ".csv",
    ".tsv",
    ".tfrecord",
    ".tfrecords",
)
# Entries looked at while searching a class folder's subtree for an image: the search stops
# at the first image, so only folders with none (or deep, image-less trees) cost this much.
MAX_SUBTREE_ENTRIES = 10_000
MAX_SUBTREE_DEPTH = 16


def _has_data_files(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(
                not e.name.startswith(".")
                and (e.name.lower().endswith(DATA_EXTENSIONS) or is_tfrecord_name(e.name))
                and e.is_file(follow_symlinks=False)
                for e in entries
            )
    except OSError:
        return False


def _branches(folder: str) -> tuple[bool, list[str]] | None:
    """(whether `folder` holds images directly, its non-hidden real subfolders), or None when
    it cannot be listed."""
    direct = False
    subfolders: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_dir(follow_symlinks=False):
                    subfolders.append(e.path)
                elif not direct and _is_image(e.name) and e.is_file(follow_symlinks=False):
                    direct = True
    except OSError:
        return None
    return direct, sorted(subfolders)


def _subtree_has_images(folder: str) -> bool:
    """Whether Keras's recursive walk of `folder` finds an image: a bounded search, links
    not followed, stopping at the first image."""
    pending = [(folder, 0)]
    seen = 0
    while pending:
        current, depth = pending.pop()
        found = _branches(current)
        if found is None:
            continue
        direct, subfolders = found
        if direct:
            return True
        seen += 1 + len(subfolders)
        if seen > MAX_SUBTREE_ENTRIES:
            return False
        if depth < MAX_SUBTREE_DEPTH:
            pending.extend((sub, depth + 1) for sub in reversed(subfolders))
    return False


def is_image_class_folder(path: str) -> bool:
    """Whether `path` is a dataset root as image_dataset_from_directory would read it: no data
    files of its own (those make it a data folder), and either a class subfolder that holds
    image files directly, or at least two class subfolders whose images all sit deeper
    (`root/{cat,dog}/batch1/*.png`) where each reaches them through one branch only (a
    class folder with two image-holding branches is a dataset of its own: `train/{cat,dog}`
    beside `val/{cat,dog}` are two datasets, not one with classes train and val)."""
    # (`path` itself may be a link the user named as DATA; links inside it are not followed.)
    if not os.path.isdir(path) or _has_data_files(path):
        return False
    nested = 0
    for name in class_folders(path):
        folder = os.path.join(path, name)
        if os.path.islink(folder):
            continue
        found = _branches(folder)
        if found is None:
            continue
        direct, subfolders = found
        if direct:
            return True
        holding = [sub for sub in subfolders if _subtree_has_images(sub)]
        if len(holding) == 1:
            nested += 1
        elif len(holding) > 1:
            return False
    return nested >= 2


def iter_class_files(root: str) -> Iterator[tuple[int, str]]:
    """(class index, path relative to root) in Keras's order: classes sorted, each class
    folder walked recursively without following links, folders and files sorted. A class
    folder that is itself a link is yielded as one entry (its name), not followed: reading
    it reports the link (KF505)."""
    prefix = os.path.join(root, "")
    for label, name in enumerate(class_folders(root)):
        if os.path.islink(os.path.join(root, name)):
            yield label, name
            continue
        walk = sorted(os.walk(os.path.join(root, name)), key=lambda entry: entry[0])
        for folder, _, files in walk:
            for file_name in sorted(files):
                if _is_image(file_name):
                    # os.walk's folders start with root + sep: slicing is os.path.relpath,
                    # without its cost on 100,000 files.
                    yield label, os.path.join(folder, file_name)[len(prefix) :]


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """An fd of a regular file opened without following a link (O_NOFOLLOW, O_NONBLOCK so a
    FIFO cannot block), and its fstat; DataReadError for a link or anything not a regular
    file. The caller closes the fd."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataReadError("a symbolic link: kerasfix does not follow links") from None
        raise DataReadError(exc.strerror or str(exc)) from None
    try:
        status = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise DataReadError(exc.strerror or str(exc)) from None
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise DataReadError("not a regular file")
    return fd, status


# The reason read_regular gives for a file over its limit (callers tell it from the others).
TOO_LARGE = "larger than"


def read_regular(path: str, limit: int) -> bytes:
    """A regular file's bytes (no link followed), at most its size at open and `limit`."""
    fd, status = open_regular(path)
    try:
        if status.st_size > limit:
            raise DataReadError(f"{TOO_LARGE} {limit} bytes")
        parts: list[bytes] = []
        left = status.st_size
        while left > 0:
            block = os.read(fd, min(left, 1 << 20))
            if not block:
                break
            parts.append(block)
            left -= len(block)
        return b"".join(parts)
    except OSError as exc:
        raise DataReadError(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def _ends_well(fd: int, head: bytes, tail: bytes, fmt: str, size: int) -> str | None:
    """Why the file is cut short, judged by how its format must end; None if it ends well."""
    if fmt in ("BMP", "WEBP"):
        if fmt == "BMP":
            declared = int.from_bytes(head[2:6], "little")
        else:  # RIFF: the size after the first 8 bytes
            declared = int.from_bytes(head[4:8], "little") + 8
        if declared and size < declared:
            return f"truncated: the {fmt} header declares {declared} bytes, the file has {size}"
        return None
    endings = _ENDINGS.get(fmt)
    if endings is None or tail.rstrip(b"\x00\r\n ").endswith(endings):
        return None  # (some encoders pad after the end marker)
    if fmt == "JPEG" and _jpeg_has_eoi(fd, head, size):
        return None  # data after the end marker (a motion photo's video): decoders stop at EOI
    return f"truncated: the {fmt} data does not end with its end marker"


# How far back from a JPEG's end an EOI marker is looked for when the file does not end with
# one (a motion photo appends its video, MBs, after the image): past this, it is truncated.
MAX_JPEG_TRAILER = 64 * 1024 * 1024
SEARCH_BLOCK = 1 << 20


def _jpeg_scan_start(fd: int, head: bytes, size: int) -> int | None:
    """Where the entropy-coded data of a JPEG starts (after its first SOS segment), walking
    the marker segments; None when they cannot be walked. Before it, FFD9 may sit inside an
    EXIF thumbnail; after it, FFD9 is only ever the EOI marker (data bytes FF are stuffed)."""
    at = 2
    for _ in range(MAX_JPEG_MARKERS):
        marker = head[at : at + 4] if at + 4 <= len(head) else os.pread(fd, 4, at)
        if len(marker) < 4 or marker[0] != 0xFF:
            return None
        length = int.from_bytes(marker[2:4], "big")
        if marker[1] == 0xDA:
            return at + 2 + length if at + 2 + length <= size else None
        at += 2 + length
    return None


def _jpeg_has_eoi(fd: int, head: bytes, size: int) -> bool:
    """Whether an EOI marker (FFD9) follows the JPEG's scan data, searched backwards from the
    end in blocks (bounded by MAX_JPEG_TRAILER)."""
    start = _jpeg_scan_start(fd, head, size)
    if start is None:
        return False
    end = size
    floor = max(start, size - MAX_JPEG_TRAILER)
    while end > floor:
        begin = max(floor, end - SEARCH_BLOCK)
        block = os.pread(fd, end - begin + 1, begin)  # one byte of overlap with the last block
        if b"\xff\xd9" in block:
            return True
        end = begin
    return False


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour type -> Pillow's mode (8-bit; the channel count is what matters).
PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
# SOF0-SOF15 frame headers; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}
# Markers read before giving up on finding the frame header (Pillow then decides).
MAX_JPEG_MARKERS = 256
# Under Pillow's default cap (89,478,485) by far: larger images ask Pillow for its cap.
PIXEL_FLOOR = 1 << 24


# Bytes read from the start of each file: PNG's IHDR and, for almost every JPEG, the markers
# up to its frame header. A header beyond them (a large EXIF block) goes to Pillow.
HEAD_BYTES = 4096
TAIL_BYTES = 64


def _png_transparent(head: bytes) -> bool | None:
    """Whether a palette PNG has a tRNS chunk before its image data (None: not in `head`)."""
    at = 8
    while at + 8 <= len(head):
        kind = head[at + 4 : at + 8]
        if kind == b"IDAT":
            return False
        if kind == b"tRNS":
            return True
        at += int.from_bytes(head[at : at + 4], "big") + 12
    return None


# IHDR colour type -> the bit depths the PNG specification allows for it.
PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


def _check_ihdr(head: bytes) -> None:
    """The checks libpng makes of IHDR before TensorFlow decodes a pixel (a failure here is
    `Invalid PNG` at training time): the first chunk is IHDR, 13 bytes long, with a good CRC,
    an allowed colour type and bit depth pair, compression and filter method 0, interlace 0
    or 1."""
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise DataReadError("a corrupt PNG header: the first chunk is not IHDR")
    if int.from_bytes(head[8:12], "big") != 13:
        raise DataReadError("a corrupt PNG header: the IHDR chunk is not 13 bytes long")
    if zlib.crc32(head[12:29]) != int.from_bytes(head[29:33], "big"):
        raise DataReadError("a corrupt PNG header: the IHDR chunk's CRC does not match")
    depth, colour, compression, filtering, interlace = head[24:29]
    if depth not in PNG_DEPTHS.get(colour, ()):
        raise DataReadError(
            f"a corrupt PNG header: bit depth {depth} with colour type {colour} is not allowed"
        )
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise DataReadError(
            "a corrupt PNG header: unknown compression, filter or interlace method "
            f"({compression}, {filtering}, {interlace})"
        )


def _quick_header(head: bytes) -> tuple[int, int, str, str] | None:
    """The fields Pillow's PNG and JPEG plugins read (IHDR; the SOF frame header), read from
    the file's first bytes: Pillow's JPEG `_open` also parses every quantization table in
    Python, several times the cost. None when the file is anything else, or unusual: Pillow
    then reads it."""
    if head.startswith(PNG_SIGNATURE):
        _check_ihdr(head)
        mode = PNG_MODES.get(head[25])
        if mode == "P":
            transparent = _png_transparent(head)
            if transparent is None:
                return None
            mode = "RGBA" if transparent else mode  # a palette with transparency: 4 channels
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        return (width, height, mode, "PNG") if mode else None
    if not head.startswith(b"\xff\xd8\xff"):
        return None
    at = 2
    for _ in range(MAX_JPEG_MARKERS):
        marker = head[at : at + 4]
        if len(marker) < 4 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA, 0xFF):
            return None
        if marker[1] in JPEG_FRAMES:
            frame = head[at + 4 : at + 10]
            mode = JPEG_MODES.get(frame[5]) if len(frame) == 6 else None
            if mode is None:
                return None
            width, height = int.from_bytes(frame[3:5], "big"), int.from_bytes(frame[1:3], "big")
            return width, height, mode, "JPEG"
        at += 2 + int.from_bytes(marker[2:4], "big")
    return None


# What tf.io.decode_image (TensorFlow 2.21), which image_dataset_from_directory calls, decodes
# and Pillow identifies (TensorFlow also reads JPEG XL, which Pillow does not: such a file is
# KF505 here). A TIFF or an ICO named .png passes Pillow and fails TensorFlow.
DECODABLE_FORMATS = frozenset({"BMP", "GIF", "JPEG", "PNG", "WEBP"})


def _pillow_header(fh: Any) -> tuple[int, int, str, str]:
    """Pillow's reading of any header the fast path leaves (GIF, BMP, unusual PNG/JPEG);
    its errors become the file's reason."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns over MAX_IMAGE_PIXELS and raises over twice that: a size to
            # report, not a warning to print.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as image:
                width, height = image.size
                mode, fmt = image.mode, image.format or "?"
    except UnidentifiedImageError:
        raise DataReadError("not an image Pillow can identify") from None
    except Image.DecompressionBombError as exc:
        raise DataReadError(f"too many pixels to decode safely ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        text = str(exc).strip().splitlines()
        raise DataReadError(text[0] if text else type(exc).__name__) from None
    if fmt == "MPO":
        fmt = "JPEG"  # a multi-picture JPEG (camera, motion photo): TensorFlow reads the first
    if fmt not in DECODABLE_FORMATS:
        raise DataReadError(
            f"a {fmt} image, which TensorFlow's decode_image cannot read (it reads BMP, GIF, "
            "JPEG, PNG and WebP)"
        )
    if fmt == "PNG" and mode == "P" and "transparency" in image.info:
        mode = "RGBA"  # a palette with transparency decodes to 4 channels
    if fmt == "GIF":
        mode = "RGB"  # TensorFlow decodes every GIF to RGB
    return width, height, mode, fmt


def _check_pixels(width: int, height: int) -> None:
    """Pillow's own cap (twice MAX_IMAGE_PIXELS), applied to the fast path too."""
    if width * height <= PIXEL_FLOOR:  # far under any cap: no need to import Pillow
        return
    from PIL import Image

    cap = Image.MAX_IMAGE_PIXELS
    if cap is not None and width * height > 2 * cap:
        raise DataReadError(
            f"too many pixels to decode safely ({width}x{height} = {width * height}, over "
            f"twice Pillow's MAX_IMAGE_PIXELS, {cap})"
        )


def read_header(path: str) -> tuple[int, int, str, str]:
    """(width, height, mode, format) from the header; raises DataReadError for a bad file."""
    # One open, two positioned reads (the header and the last bytes). O_NOFOLLOW: a linked
    # file is not followed out of the dataset.
    fd, status = open_regular(path)
    try:
        size = status.st_size
        if size == 0:
            raise DataReadError("an empty file")
        head = os.pread(fd, HEAD_BYTES, 0)
        tail = os.pread(fd, TAIL_BYTES, max(0, size - TAIL_BYTES))
        header = _quick_header(head)
        if header is None:
            with os.fdopen(os.dup(fd), "rb") as fh:
                header = _pillow_header(fh)
        width, height, mode, fmt = header
        _check_pixels(width, height)
        reason = _ends_well(fd, head, tail, fmt, size)
    except OSError as exc:
        raise DataReadError(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if reason is not None:
        raise DataReadError(reason)
    if width <= 0 or height <= 0:
        raise DataReadError(f"declares an empty image ({width}x{height})")
    return width, height, mode, fmt


def survey(root: str, image_size: tuple[int, int] | None = None) -> ImageSurvey:
    """Every image's header in Keras's order; bad files are listed with their reason."""
    found = ImageSurvey(root, tuple(class_folders(root)))
    if image_size is not None:
        found.image_size = image_size
    for label, relative in iter_class_files(root):
        try:
            width, height, mode, _ = read_header(os.path.join(root, relative))
        except DataReadError as exc:
            found.unreadable.append((relative, exc.reason))
            continue
        channels = MODE_CHANNELS.get(mode, 3)
        found.images.append(ImageInfo(relative, label, width, height, channels, mode))
    return found


# image_dataset_from_directory's color_mode -> the channels every image is decoded to.
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
DEFAULT_COLOR_MODE = "rgb"


@dataclass(frozen=True)
class ImageLoading:
    """The image_dataset_from_directory arguments a folder is read with (None: Keras's
    defaults, 256x256, rgb, channels_last, int labels)."""

    image_size: tuple[int, int] | None = None
    color_mode: str | None = None
    data_format: str | None = None
    label_mode: str | None = None


def read_image_folder(
    path: str,
    image_size: tuple[int, int] | None = None,
    color_mode: str | None = None,
    loading: ImageLoading | None = None,
) -> DataFile:
    """The folder as image_dataset_from_directory yields it: x (N, H, W, C) (or (N, C, H, W)
    with data_format channels_first), y (N,) class indices (or (N, classes) one-hot with
    label_mode categorical); C is what `color_mode` (default rgb) decodes every image to,
    whatever the files hold."""
    loading = loading or ImageLoading(image_size, color_mode)
    found = survey(path, loading.image_size)
    found.data_format = loading.data_format or "channels_last"
    found.label_mode = loading.label_mode or "int"
    result = DataFile(path=path, format=IMAGE_FORMAT, survey=found)
    if not found.images and not found.unreadable:
        result.error = "an image-class folder with no images"
        return result
    count = len(found.images) + len(found.unreadable)
    height, width = found.image_size
    channels = COLOR_MODES[loading.color_mode or DEFAULT_COLOR_MODE]
    shape = (
        (count, channels, height, width)
        if found.data_format == "channels_first"
        else (count, height, width, channels)
    )
    result.arrays["x"] = ArrayRef(path, "x", shape, "float32", "f")
    if found.label_mode == "categorical":
        classes = len(found.class_names)
        result.arrays["y"] = ArrayRef(path, "y", (count, classes), "float32", "f")
    else:
        result.arrays["y"] = ArrayRef(path, "y", (count,), "int32", "i")
    return result


def iter_label_chunks(ref: ArrayRef) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    """The labels image_dataset_from_directory gives, in its order: class indices
    (label_mode="int"), or one-hot rows when `ref` has a class axis (label_mode
    "categorical")."""
    labels = np.asarray([label for label, _ in iter_class_files(ref.path)], dtype=np.int32)
    if len(ref.shape) == 2:
        yield 0, np.eye(ref.shape[1], dtype=np.float32)[labels]
        return
    yield 0, labels


# Signatures of the formats tf.io.decode_image reads (TFRecord bytes features hold the file).
_IMAGE_SIGNATURES = (PNG_SIGNATURE, b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def looks_like_image(data: bytes) -> bool:
    """Whether bytes start like an image file tf.io.decode_image reads."""
    return data.startswith(_IMAGE_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def header_of_bytes(data: bytes) -> tuple[int, int, int, str]:
    """(width, height, channels as decode_image gives them, format) of an encoded image held
    in memory (a TFRecord bytes feature), read from its header as read_header reads a file;
    DataReadError for a bad one."""
    import io

    head = data[:HEAD_BYTES]
    header = _quick_header(head)
    if header is None:
        header = _pillow_header(io.BytesIO(data))
    width, height, mode, fmt = header
    _check_pixels(width, height)
    endings = _ENDINGS.get(fmt)
    if fmt in ("BMP", "WEBP"):
        declared = (
            int.from_bytes(data[2:6], "little")
            if fmt == "BMP"
            else int.from_bytes(data[4:8], "little") + 8
        )
        if declared and len(data) < declared:
            raise DataReadError(
                f"truncated: the {fmt} header declares {declared} bytes, the value has {len(data)}"
            )
    elif (
        endings is not None
        and not data.rstrip(b"\x00\r\n ").endswith(endings)
        and not (fmt == "JPEG" and b"\xff\xd9" in data[_jpeg_data_start(data) :])
    ):
        raise DataReadError(f"truncated: the {fmt} data does not end with its end marker")
    if width <= 0 or height <= 0:
        raise DataReadError(f"declares an empty image ({width}x{height})")
    return width, height, MODE_CHANNELS.get(mode, 3), fmt


def _jpeg_data_start(data: bytes) -> int:
    """Where a JPEG's entropy-coded data starts (after its first SOS segment): an FFD9 after
    it can only be the EOI marker. len(data) when the segments cannot be walked."""
    at = 2
    for _ in range(MAX_JPEG_MARKERS):
        marker = data[at : at + 4]
        if len(marker) < 4 or marker[0] != 0xFF:
            return len(data)
        length = int.from_bytes(marker[2:4], "big")
        if marker[1] == 0xDA:
            return at + 2 + length
        at += 2 + length
    return len(data)
