"""The repair transforms as pure functions over id, label and image arrays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kerasfix.repair.transforms import (
    convert_channels,
    map_oov,
    one_hot,
    pad_sequences,
    repeat_steps,
)


def test_map_oov_maps_only_the_range_its_finding_names() -> None:
    ids = np.array([[1, 12, -1], [0, 9, 10]], dtype=np.int32)
    above = map_oov(ids, {"input_dim": 10, "oov_id": 1})
    np.testing.assert_array_equal(above, [[1, 1, -1], [0, 9, 1]])
    negative = map_oov(ids, {"negative": True, "oov_id": 1})
    np.testing.assert_array_equal(negative, [[1, 12, 1], [0, 9, 10]])
    assert above.dtype == ids.dtype
    # One ragged sequence is an id array too (what the .jsonl and TFRecord writers map).
    np.testing.assert_array_equal(
        map_oov(np.array([3, 40]), {"input_dim": 10, "oov_id": 2}), [3, 2]
    )


def test_one_hot_keeps_every_step_of_per_step_ids() -> None:
    per_step = np.array([[0, 2, 1], [1, 1, 0]])
    encoded = one_hot(per_step, {"units": 3})
    assert encoded.shape == (2, 3, 3)
    np.testing.assert_array_equal(encoded.argmax(-1), per_step)
    assert one_hot(np.array([[2], [0]]), {"units": 3}).shape == (2, 3)
    assert one_hot(per_step[..., None], {"units": 3}).shape == (2, 3, 3)


def test_repeat_steps_puts_each_label_at_every_step() -> None:
    labels = np.array([[0.5], [1.5]], dtype=np.float32)
    repeated = repeat_steps(labels, {"steps": 4})
    assert repeated.shape == (2, 4, 1)
    assert (repeated[1] == 1.5).all()
    assert repeat_steps(np.array([2, 0]), {"steps": 3}).tolist() == [[2, 2, 2], [0, 0, 0]]


def test_channel_conversions_repeat_drop_alpha_and_take_the_luma_as_pillow() -> None:
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(2, 5, 4, 4), dtype=np.uint8)
    rgb = convert_channels(rgba, {"axis": 3, "from": 4, "to": 3})
    np.testing.assert_array_equal(rgb, rgba[..., :3])
    gray = convert_channels(rgb, {"axis": 3, "from": 3, "to": 1})
    assert gray.shape == (2, 5, 4, 1) and gray.dtype == np.uint8
    pillow = np.stack([np.asarray(Image.fromarray(image, "RGB").convert("L")) for image in rgb])
    assert np.abs(gray[..., 0].astype(int) - pillow.astype(int)).max() <= 1
    back = convert_channels(gray, {"axis": 3, "from": 1, "to": 3})
    assert back.shape == (2, 5, 4, 3) and (back[..., 0] == back[..., 2]).all()
    # channels_first arrays convert along axis 1; floats stay floats.
    first = rng.random((2, 3, 4, 4), dtype=np.float32)
    luma = convert_channels(first, {"axis": 1, "from": 3, "to": 1})
    assert luma.shape == (2, 1, 4, 4) and luma.dtype == np.float32
    with pytest.raises(ValueError):
        convert_channels(first, {"axis": 1, "from": 3, "to": 2})


@pytest.mark.tensorflow
@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_feature_vector_padding_matches_keras(padding: str, truncating: str) -> None:
    from kerasfix.model.quiet import import_keras

    keras = import_keras()
    rng = np.random.default_rng(1)
    sequences = [rng.random((n, 2)).astype(np.float32) for n in (3, 6, 1, 4)]
    params = {
        "maxlen": 4,
        "padding": padding,
        "truncating": truncating,
        "value": -1.0,
        "dtype": "float32",
        "step_shape": [2],
    }
    ours = pad_sequences(sequences, params)
    theirs = keras.utils.pad_sequences(
        sequences, maxlen=4, dtype="float32", padding=padding, truncating=truncating, value=-1.0
    )
    np.testing.assert_array_equal(ours, theirs)
