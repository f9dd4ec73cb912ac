"""Legacy `.h5` full-model files: `model_config` and `training_config` root attributes."""

from __future__ import annotations

from typing import Any

from kerasfix import safeio
from kerasfix.errors import ModelReadError
from kerasfix.model.config import ConfigError, contract_from_config
from kerasfix.model.contract import ModelContract
from kerasfix.model.load import parse_json_text


def _string_attr(attrs: Any, name: str) -> bytes | None:
    """A scalar string attribute as bytes; a non-string attribute is a broken file, not a crash."""
    if name not in attrs:
        return None
    value = attrs[name]
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConfigError(f"the {name!r} attribute is not a string")


def read_h5_model(path: str) -> ModelContract:
    import h5py

    if safeio.regular_file_size(path) == 0:
        raise ModelReadError(path, "an empty file")
    with h5py.File(path, "r", locking=False) as f:
        # Keras would follow these when loading weights for a patch or --verify-fit.
        problems = safeio.hdf5_refusals(f)
        if problems:
            raise ModelReadError(path, "; ".join(problems))
        try:
            with safeio.address_space_cap():
                model_config = _string_attr(f.attrs, "model_config")
                training_config = _string_attr(f.attrs, "training_config")
                version = f.attrs.get("keras_version")
                # Keras writes weights only for a model it built: the architecture builds.
                weights = f.get("model_weights")
                names = weights.attrs.get("layer_names", ()) if weights is not None else ()
                holds_weights = len(names) > 0
        except MemoryError:
            raise ModelReadError(
                path, "its attributes claim more memory than a config takes"
            ) from None
    if model_config is None:
        raise ModelReadError(
            path, "an HDF5 file without 'model_config': weights or data, not a saved model"
        )
    config = parse_json_text(model_config, "model_config")
    loss = None
    if training_config is not None:
        training = parse_json_text(training_config, "training_config")
        loss = training.get("loss") if isinstance(training, dict) else None
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    return contract_from_config(
        config,
        path=path,
        fmt="h5",
        loss_config=loss,
        compiled=training_config is not None,
        keras_version=version if isinstance(version, str) else None,
        proven_buildable=holds_weights,
    )
