"""From DATA paths to files: folders recursed in sorted order, formats chosen by extension
and confirmed by magic bytes, every failure turned into that file's reason (KF001)."""

from __future__ import annotations

import fnmatch
import os
import zlib
from collections.abc import Callable, Iterator

from kerasfix import safeio
from kerasfix.errors import DataReadError
from kerasfix.loaders import csv_file, h5, images, npy, npz, ragged, tfrecord
from kerasfix.loaders.base import ArrayRef, DataFile

Reader = Callable[[str, bool], list[ArrayRef]]


def _read_npy(path: str, allow_pickle: bool) -> list[ArrayRef]:
    ref = npy.read_npy(path, allow_pickle)
    if ref.kind == "O":  # only reached with --allow-pickle: sequences of different lengths?
        ref = ragged.describe_object_member(path, None)
    return [ref]


def _read_tfrecord(path: str, allow_pickle: bool) -> list[ArrayRef]:
    return list(tfrecord.read_tfrecord(path).arrays.values())


FORMATS: dict[str, tuple[str, Reader]] = {
    ".npy": ("npy", _read_npy),
    ".npz": ("npz", npz.read_npz),
    ".h5": ("h5", h5.read_h5),
    ".hdf5": ("h5", h5.read_h5),
    ".jsonl": ("jsonl", ragged.read_json_sequences),
    ".json": ("json", ragged.read_json_sequences),
    ".csv": ("csv", csv_file.read_csv),
    ".tsv": ("csv", csv_file.read_csv),
    # Also TFDS's `name.tfrecord-00000-of-00064` and compressed names (tfrecord.is_tfrecord_name).
    ".tfrecord": (tfrecord.FORMAT, _read_tfrecord),
    ".tfrecords": (tfrecord.FORMAT, _read_tfrecord),
}
# Formats RULES.md names that later versions read; until then they are reported, not skipped.
PLANNED_FORMATS: tuple[str, ...] = ()
# Read when named, not picked up from folders: a dataset folder's .json is usually metadata.
NAMED_ONLY = (".json",)


def _is_junk(name: str) -> bool:
    """Hidden files, macOS AppleDouble twins and kerasfix's own temp files."""
    return name.startswith(".") or name.endswith(".part")


def _chosen(path: str, root: str | None, globs: tuple[str, ...], excludes: tuple[str, ...]) -> bool:
    """`--glob`/`--exclude`: fnmatch patterns tried on the file's name and on its path
    relative to the DATA folder it was found in (or as given, for a named file)."""
    rel = os.path.relpath(path, root) if root is not None else path
    names = (os.path.basename(path), rel.replace(os.sep, "/"))

    def hit(patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in patterns for name in names)

    return (not globs or hit(globs)) and not hit(excludes)


def discover(
    paths: list[str], globs: tuple[str, ...] = (), excludes: tuple[str, ...] = ()
) -> Iterator[str]:
    """Every DATA file: files as given, folders walked in sorted order without following
    links, keeping only the formats kerasfix reads (and what --glob/--exclude choose). An
    image-class folder is one unit."""
    seen: set[str] = set()
    for given in paths:
        if os.path.isdir(given):
            for root, dirs, files in os.walk(given):
                if images.is_image_class_folder(root):
                    dirs[:] = []
                    chosen = root == given or _chosen(root, given, globs, excludes)
                    if root not in seen and chosen:
                        seen.add(root)
                        yield root
                    continue
                dirs[:] = sorted(d for d in dirs if not _is_junk(d))
                for name in sorted(files):
                    ext = os.path.splitext(name)[1].lower()
                    # Inside folders only the formats read today count: a folder's README.json
                    # or notes.csv is not training data until kerasfix can read those formats.
                    known = ext in FORMATS or tfrecord.is_tfrecord_name(name)
                    if _is_junk(name) or not known or ext in NAMED_ONLY:
                        continue
                    path = os.path.join(root, name)
                    if path not in seen and _chosen(path, given, globs, excludes):
                        seen.add(path)
                        yield path
        elif given not in seen and _chosen(given, None, globs, excludes):
            seen.add(given)
            yield given


def read_data_file(
    path: str,
    allow_pickle: bool = False,
    label: str | None = None,
    image_size: tuple[int, int] | None = None,
    color_mode: str | None = None,
    image_loading: images.ImageLoading | None = None,
    survey_plan: tfrecord.SurveyPlan | None = None,
    compression: str | None = None,
) -> DataFile:
    """The arrays a file holds, or the reason it cannot be read; never raises for bad data.
    `label`: a table's label column (--y), by name or index; `image_size`, `color_mode`:
    --image-size, --color-mode; `image_loading`: every argument an image folder is read
    with (it wins over the two before); `survey_plan`, `compression`: what a TFRecord
    shard's one pass counts, and --compression (None: detected)."""
    if images.is_image_class_folder(path):
        return images.read_image_folder(path, image_size, color_mode, image_loading)
    if tfrecord.is_tfrecord_name(path):
        return _read_shard(path, survey_plan, compression)
    ext = os.path.splitext(path)[1].lower()
    fmt, reader = FORMATS.get(ext, (ext.lstrip(".") or "unknown", None))
    result = DataFile(path=path, format=fmt)
    try:
        if not os.path.lexists(path):
            raise DataReadError("no such file or folder")
        if reader is None:
            if ext in PLANNED_FORMATS:
                raise DataReadError(f"reading {ext} files is not supported yet")
            raise DataReadError(
                f"unsupported format {ext or '(no extension)'!r}; kerasfix reads "
                + ", ".join(sorted(FORMATS))
            )
        _confirm_magic(path, fmt)
        refs = (
            csv_file.read_csv(path, allow_pickle, label)
            if fmt == "csv"
            else reader(path, allow_pickle)
        )
        for ref in refs:
            result.arrays[ref.key or ""] = ref
    except DataReadError as exc:
        result.error = exc.reason
    except MemoryError:
        result.error = "reading the header ran out of memory"
    except (OSError, ValueError, RuntimeError, EOFError, zlib.error) as exc:
        text = str(exc).strip().splitlines()
        result.error = text[0] if text else type(exc).__name__
    return result


def _read_shard(path: str, plan: tfrecord.SurveyPlan | None, compression: str | None) -> DataFile:
    try:
        if not os.path.lexists(path):
            raise DataReadError("no such file or folder")
        safeio.regular_file_size(path)
        return tfrecord.read_tfrecord(path, plan, compression)
    except DataReadError as exc:
        return DataFile(path=path, format=tfrecord.FORMAT, error=exc.reason)
    except MemoryError:
        return DataFile(path=path, format=tfrecord.FORMAT, error="reading ran out of memory")
    except OSError as exc:
        text = str(exc).strip().splitlines()
        return DataFile(
            path=path, format=tfrecord.FORMAT, error=text[0] if text else type(exc).__name__
        )


def _confirm_magic(path: str, fmt: str) -> None:
    head = safeio.sniff(path, 8)
    if not head:
        raise DataReadError("an empty file")
    if fmt == "npy" and not head.startswith(safeio.NPY_MAGIC):
        raise DataReadError("not a .npy file (no NUMPY magic)")
    if fmt == "npz" and not head.startswith((safeio.ZIP_MAGIC, safeio.EMPTY_ZIP_MAGIC)):
        raise DataReadError("not a .npz file (not a zip archive)")
    if fmt == "h5" and not safeio.is_hdf5(path):
        raise DataReadError("not an HDF5 file (no HDF5 signature)")
    if fmt in ("json", "jsonl") and head.lstrip()[:1] not in (b"[", b"{"):
        raise DataReadError(f"not a .{fmt} file of token lists (no JSON list or object)")
