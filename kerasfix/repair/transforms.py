"""The transforms a repair applies, as pure functions over a chunk of rows (samples first).

Every transform is row-local, so a file is repaired chunk by chunk with flat memory. Each
takes the chunk and the action's params and returns the new chunk; the output's sample shape
and dtype come from applying it to an empty chunk, so they are never computed by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
Transform = Callable[[Array, dict[str, Any]], Array]


def expand_dims(chunk: Array, params: dict[str, Any]) -> Array:
    return np.expand_dims(chunk, int(params["axis"]))


def squeeze(chunk: Array, params: dict[str, Any]) -> Array:
    return np.squeeze(chunk, int(params["axis"]))


def transpose(chunk: Array, params: dict[str, Any]) -> Array:
    return np.ascontiguousarray(np.transpose(chunk, params["axes"]))


def reshape(chunk: Array, params: dict[str, Any]) -> Array:
    return chunk.reshape((chunk.shape[0], *params["sample_shape"]))


def pad_axis(chunk: Array, params: dict[str, Any]) -> Array:
    """Pad or truncate `axis` to `length`, as keras.utils.pad_sequences does on the time axis:
    `padding`/`truncating` "pre" work at the front, "post" at the end."""
    axis, length = int(params["axis"]), int(params["length"])
    size = chunk.shape[axis]
    if size > length:
        start = size - length if params.get("truncating", "pre") == "pre" else 0
        return np.take(chunk, np.arange(start, start + length), axis=axis)
    if size < length:
        widths = [(0, 0)] * chunk.ndim
        missing = length - size
        widths[axis] = (missing, 0) if params.get("padding", "pre") == "pre" else (0, missing)
        return np.pad(chunk, widths, constant_values=params.get("value", 0))
    return chunk


def pad_sequences(sequences: list[Array], params: dict[str, Any]) -> Array:
    """Ragged rows to one (n, maxlen) array with the semantics of keras.utils.pad_sequences
    (which the tests use as the reference; importing it here would import TensorFlow)."""
    maxlen = int(params["maxlen"])
    dtype = np.dtype(params.get("dtype", "int32"))
    # Sequences of feature vectors, (steps, features) each, pad to (n, maxlen, features).
    step = tuple(int(d) for d in params.get("step_shape", ()))
    out = np.full((len(sequences), maxlen, *step), params.get("value", 0), dtype=dtype)
    for i, seq in enumerate(sequences):
        if not len(seq):
            continue
        trunc = seq[-maxlen:] if params.get("truncating", "pre") == "pre" else seq[:maxlen]
        if params.get("padding", "pre") == "post":
            out[i, : len(trunc)] = trunc
        else:
            out[i, -len(trunc) :] = trunc
    return out


def shift(chunk: Array, params: dict[str, Any]) -> Array:
    # In a wide signed type: -1 does not fit an unsigned dtype; the result fits the original
    # (KF212 labels run 1..K, so they end at 0..K-1).
    shifted: Array = (chunk.astype(np.int64) + int(params["by"])).astype(chunk.dtype)
    return shifted


def one_hot(chunk: Array, params: dict[str, Any]) -> Array:
    """Class ids to one-hot rows: (N,) or (N, 1) -> (N, units); per-step ids (N, T) or
    (N, T, 1) -> (N, T, units)."""
    units = int(params["units"])
    ids = chunk[..., 0] if chunk.ndim > 1 and chunk.shape[-1] == 1 else chunk
    encoded: Array = np.eye(units, dtype=np.float32)[ids.astype(np.int64)]
    return encoded


def repeat_steps(chunk: Array, params: dict[str, Any]) -> Array:
    """One label per sample repeated at each of `steps` time steps: (N, ...) -> (N, steps,
    ...), for a head that predicts per step."""
    return np.repeat(chunk[:, np.newaxis, ...], int(params["steps"]), axis=1)


# ITU-R 601-2 luma, as Pillow's convert("L") and tf.image.rgb_to_grayscale weigh R, G, B.
LUMA = (0.299, 0.587, 0.114)


def convert_channels(chunk: Array, params: dict[str, Any]) -> Array:
    """Images' channel axis from one colour mode to another: grayscale to RGB repeats the one
    channel, RGB (or RGBA) to grayscale is the luma, RGBA to RGB drops alpha. Integer pixels
    stay integers (the luma rounded)."""
    axis, source, target = int(params["axis"]), int(params["from"]), int(params["to"])
    if source == 1 and target == 3:
        return np.repeat(chunk, 3, axis=axis)
    if source == 4 and target == 3:
        return np.ascontiguousarray(np.take(chunk, [0, 1, 2], axis=axis))
    if source in (3, 4) and target == 1:
        rgb = np.take(chunk, [0, 1, 2], axis=axis).astype(np.float64)
        shape = [1] * chunk.ndim
        shape[axis] = 3
        luma = (rgb * np.asarray(LUMA).reshape(shape)).sum(axis=axis, keepdims=True)
        if np.issubdtype(chunk.dtype, np.integer):
            info = np.iinfo(chunk.dtype)
            rounded: Array = np.clip(np.rint(luma), info.min, info.max).astype(chunk.dtype)
            return rounded
        converted: Array = luma.astype(chunk.dtype)
        return converted
    raise ValueError(f"no conversion from {source} to {target} channels")


def map_oov(chunk: Array, params: dict[str, Any]) -> Array:
    """Token ids an Embedding cannot look up mapped to `oov_id`: those at or above
    `input_dim` (when given) and, with `negative`, those below 0. Format-independent: any
    array of ids, a chunk of rows or one sequence."""
    ids = np.asarray(chunk)
    bad = np.zeros(ids.shape, dtype=bool)
    if params.get("input_dim") is not None:
        bad |= ids >= int(params["input_dim"])
    if params.get("negative"):
        bad |= ids < 0
    if not bad.any():
        return ids
    mapped: Array = np.where(bad, np.asarray(params["oov_id"], dtype=ids.dtype), ids)
    return mapped


def argmax(chunk: Array, params: dict[str, Any]) -> Array:
    ids: Array = np.argmax(chunk, axis=-1).astype(np.int64)
    return ids


def cast(chunk: Array, params: dict[str, Any]) -> Array:
    return chunk.astype(params["dtype"])


TRANSFORMS: dict[str, Transform] = {
    "expand_dims": expand_dims,
    "squeeze": squeeze,
    "transpose": transpose,
    "reshape": reshape,
    "pad": pad_axis,
    "shift": shift,
    "one_hot": one_hot,
    "repeat_steps": repeat_steps,
    "map_oov": map_oov,
    "convert_channels": convert_channels,
    "argmax": argmax,
    "cast": cast,
}
# Transforms that keep the bytes of a C-ordered array as they are: only the header changes.
HEADER_ONLY = frozenset({"expand_dims", "squeeze", "reshape"})
# Value by value, whatever the shape: applied to each sequence of a ragged array before it is
# padded (so a pad value is never mapped), and to dense arrays like any other transform.
ELEMENTWISE = frozenset({"map_oov"})


def apply_all(chunk: Array, steps: list[tuple[str, dict[str, Any]]]) -> Array:
    for name, params in steps:
        chunk = TRANSFORMS[name](chunk, params)
    return chunk


def output_spec(
    sample_shape: tuple[int, ...], dtype: np.dtype[Any], steps: list[tuple[str, dict[str, Any]]]
) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The sample shape and dtype the steps produce, found by running them on zero rows."""
    probe = apply_all(np.zeros((0, *sample_shape), dtype=dtype), steps)
    return tuple(probe.shape[1:]), probe.dtype
