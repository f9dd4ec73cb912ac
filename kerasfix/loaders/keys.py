"""Which array in a file feeds which model input, and which holds the labels (RULES.md:
the first of `x, X, x_train, ...` and `y, Y, y_train, ...`, or `--x`/`--y`; inputs by name)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from kerasfix.loaders.base import ArrayRef, DataFile
from kerasfix.loaders.ragged import as_rows
from kerasfix.model.contract import ModelContract

X_KEYS = ("x", "X", "x_train", "X_train", "inputs", "features")
Y_KEYS = ("y", "Y", "y_train", "labels", "targets")
SAMPLE_WEIGHT_KEYS = ("sample_weight", "sample_weights")
# TFRecord features: also the names TFDS and tf.data tutorials give them.
RECORD_X_KEYS = (*X_KEYS, "image", "images", "input_ids", "tokens", "ids")
RECORD_Y_KEYS = (*Y_KEYS, "label", "target", "class")
# np.savez(f, x, y) names its members arr_0, arr_1.
POSITIONAL_KEYS = ("arr_0", "arr_1")


@dataclass(frozen=True)
class KeyOptions:
    """`--x`/`--y`: a key for the only input/output, or `name=key` pairs."""

    x: tuple[tuple[str | None, str], ...] = ()
    y: tuple[tuple[str | None, str], ...] = ()

    @staticmethod
    def parse(values: list[str] | None) -> tuple[tuple[str | None, str], ...]:
        pairs: list[tuple[str | None, str]] = []
        for value in values or []:
            name, sep, key = value.partition("=")
            pairs.append((name, key) if sep else (None, value))
        return tuple(pairs)


@dataclass
class Group:
    """The arrays one training call would take together: x per input, y per output."""

    path: str
    x: dict[str, ArrayRef] = field(default_factory=dict)  # input name -> array
    y: dict[str, ArrayRef] = field(default_factory=dict)  # output name -> array
    sample_weight: ArrayRef | None = None
    keys: tuple[str, ...] = ()  # every key the file holds, for messages


def map_arrays(
    file: DataFile,
    contract: ModelContract,
    options: KeyOptions,
    x_keys: tuple[str, ...] = X_KEYS,
    y_keys: tuple[str, ...] = Y_KEYS,
) -> Group:
    arrays = file.arrays
    group = Group(path=file.path, keys=tuple(sorted(arrays)))
    group.x = _pick(arrays, [i.name for i in contract.inputs], options.x, x_keys)
    group.y = _pick(arrays, [o.name for o in contract.outputs], options.y, y_keys)
    if (
        not group.x
        and not group.y
        and not options.x
        and set(arrays) == set(POSITIONAL_KEYS)
        and len(contract.inputs) == len(contract.outputs) == 1
    ):
        group.x = {contract.inputs[0].name: arrays["arr_0"]}
        group.y = {contract.outputs[0].name: arrays["arr_1"]}
    group.y = label_rows(file, group.y)
    group.sample_weight = next((arrays[k] for k in SAMPLE_WEIGHT_KEYS if k in arrays), None)
    if not group.x and not options.x and len(contract.inputs) == 1:
        taken = {r.key for r in group.y.values()} | set(SAMPLE_WEIGHT_KEYS)
        rest = [k for k in arrays if k not in taken and k not in y_keys]
        if len(rest) == 1:  # a .npy, or a file holding a single array
            group.x = {contract.inputs[0].name: arrays[rest[0]]}
    return group


def label_rows(file: DataFile, labels: dict[str, ArrayRef]) -> dict[str, ArrayRef]:
    """Labels that are lists of one length (one-hot or multi-label rows in a `.jsonl`) are
    one array, as `np.asarray` gives them to Keras, not sequences of class ids; the file's
    own entry is replaced too, so repair reads and writes them as rows."""
    rows = {name: as_rows(ref) for name, ref in labels.items()}
    for ref in rows.values():
        if ref.path == file.path and not ref.ragged and (ref.key or "") in file.arrays:
            file.arrays[ref.key or ""] = ref
    return rows


def _pick(
    arrays: dict[str, ArrayRef],
    names: list[str],
    explicit: tuple[tuple[str | None, str], ...],
    defaults: tuple[str, ...],
) -> dict[str, ArrayRef]:
    picked: dict[str, ArrayRef] = {}
    for name, key in explicit:
        target = name if name is not None else (names[0] if len(names) == 1 else None)
        if target is not None and key in arrays:
            picked[target] = arrays[key]
    if explicit:
        return picked
    for name in names:
        if name in arrays:
            picked[name] = arrays[name]
    if not picked and len(names) == 1:
        found = next((k for k in defaults if k in arrays), None)
        if found is None:
            # HDF5 groups: `train/x` answers to `x` when it is the only such dataset.
            for default in defaults:
                nested = [k for k in arrays if k.rsplit("/", 1)[-1] == default]
                if len(nested) == 1:
                    found = nested[0]
                    break
        if found is not None:
            picked[names[0]] = arrays[found]
    return picked


# --- separate x and y files ----------------------------------------------------------------

_X_STEM = re.compile(r"^(?P<pre>.*?)(?P<x>x|X|features|inputs)(?P<post>(_.*)?)$")
_PARTNERS = {"x": ("y", "Y"), "X": ("y", "Y"), "features": ("labels",), "inputs": ("targets",)}


def label_sibling(path: str) -> str | None:
    """`x.npy` -> `y.npy`, `X_train.npy` -> `y_train.npy`, `train_x.npy` -> `train_y.npy`,
    `features.npy` -> `labels.npy`, when that file exists beside it."""
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    match = _X_STEM.match(stem)
    if match is None or (match["pre"] and not match["pre"].endswith("_")):
        return None
    for partner in _PARTNERS[match["x"]]:
        candidate = os.path.join(folder, f"{match['pre']}{partner}{match['post']}{ext}")
        if os.path.isfile(candidate):
            return candidate
    return None


def is_label_stem(path: str) -> bool:
    stem = os.path.splitext(os.path.basename(path))[0]
    return bool(re.match(r"^(.*_)?(y|Y|labels|targets)(_.*)?$", stem))
