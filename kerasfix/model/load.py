"""Read a saved model's data contract, choosing the reader by content, not extension."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Any

from kerasfix import safeio
from kerasfix.errors import ModelReadError
from kerasfix.model.architecture import proven_buildable
from kerasfix.model.config import ConfigError, contract_from_config
from kerasfix.model.contract import ModelContract

# How long libhdf5 may take over a legacy .h5 model's config before the read is abandoned.
MODEL_READ_SECONDS = 60.0


def load_contract(path: str, timeout: float | None = None) -> ModelContract:
    """The data contract of MODEL: a `.keras` zip, a legacy `.h5`, an architecture `.json`,
    or a SavedModel folder. Raises ModelReadError with a one-line reason. A legacy .h5 is
    read in a child process, stopped after `timeout` seconds (MODEL_READ_SECONDS if None)."""
    if not os.path.lexists(path):
        raise ModelReadError(path, "no such file or folder")
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return _read_savedmodel_isolated(path)
        raise ModelReadError(path, "a folder, but not a SavedModel (no saved_model.pb)")
    try:
        head = safeio.sniff(path, 8)
        if head.startswith(safeio.ZIP_MAGIC) or head.startswith(safeio.EMPTY_ZIP_MAGIC):
            return _read_keras_zip(path)
        if safeio.is_hdf5(path):
            return _read_h5_isolated(path, timeout)
        if head.lstrip()[:1] == b"{":
            return _read_json_architecture(path)
    except ModelReadError:
        raise
    except ConfigError as exc:
        raise ModelReadError(path, str(exc)) from None
    # SystemError: h5py's answer to a libhdf5 error inside a link-visit callback.
    except (
        OSError,
        ValueError,
        RecursionError,
        RuntimeError,
        SystemError,
        zipfile.BadZipFile,
    ) as exc:
        raise ModelReadError(path, _reason(exc)) from None
    raise ModelReadError(
        path, "not a Keras model (expected a .keras zip, a legacy .h5, a .json or a SavedModel)"
    )


def _read_h5_isolated(path: str, timeout: float | None) -> ModelContract:
    """libhdf5 is C: a damaged file can crash it or make it loop for ever (fuzzing found a
    global heap that does), beyond the reach of Ctrl-C. Read the config in a worker process
    that can be killed; its verdict comes back as (ok, contract or reason)."""
    from kerasfix.workers import run_local

    [(ok, found)] = run_local(
        _read_h5_in_child,
        None,
        [path],
        1,
        timeout or MODEL_READ_SECONDS,
        lambda job, why: (False, why),
        timeout_name="--file-timeout" if timeout else "the model read limit of",
    )
    if not ok:
        raise ModelReadError(path, str(found))
    contract: ModelContract = found
    return contract


def _read_savedmodel_isolated(path: str) -> ModelContract:
    """A SavedModel's signature is read with TensorFlow's protobuf classes: in the run's Keras
    child, so that TensorFlow never loads into this process (and a missing or crashing one is
    one line)."""
    from kerasfix.model import savedmodel
    from kerasfix.model.keras_child import KerasError, KerasUnavailable, shared_child

    # The child keeps the directory it started in: the path goes absolute.
    absolute = os.path.abspath(path)
    try:
        contract: ModelContract = shared_child().call(savedmodel.read_savedmodel, absolute)
    except KerasUnavailable as exc:
        raise ModelReadError(
            path, f"reading a SavedModel's signature needs TensorFlow: {exc.reason}"
        ) from None
    except KerasError as exc:
        reason = exc.message.removeprefix(f"{absolute}: ") or exc.kind
        raise ModelReadError(path, reason) from None
    return dataclasses.replace(contract, path=path)


def _read_h5_in_child(context: None, path: str) -> tuple[bool, Any]:
    from kerasfix.model import h5_model

    try:
        return True, h5_model.read_h5_model(path)
    except ModelReadError as exc:
        return False, exc.reason
    except ConfigError as exc:
        return False, str(exc)
    except (OSError, ValueError, RecursionError, RuntimeError, SystemError) as exc:
        return False, _reason(exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "the config nests too deeply to read"
    if isinstance(exc, SystemError) and exc.__cause__ is not None:
        exc = exc.__cause__  # libhdf5's own words, not h5py's lock wrapper
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def parse_json_text(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{what} is not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"{what} nests too deeply to read") from None
    except ValueError as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc})") from None


def _read_keras_zip(path: str) -> ModelContract:
    try:
        with zipfile.ZipFile(path) as archive:
            safeio.check_archive(archive)
            try:
                config_bytes = safeio.read_zip_member(archive, "config.json")
            except KeyError:
                raise ModelReadError(
                    path, "a zip without config.json: not a Keras 3 .keras file"
                ) from None
            try:
                metadata = parse_json_text(
                    safeio.read_zip_member(archive, "metadata.json"), "metadata.json"
                )
            except (KeyError, ConfigError):
                metadata = {}
            holds_weights = "model.weights.h5" in archive.namelist()
    except zipfile.BadZipFile as exc:
        raise ModelReadError(path, f"a damaged .keras zip ({exc})") from None
    except RuntimeError as exc:  # zipfile raises RuntimeError for encrypted members
        raise ModelReadError(path, _reason(exc)) from None
    config = parse_json_text(config_bytes, "config.json")
    if not isinstance(config, dict):
        raise ConfigError("config.json is not a JSON object")
    compile_config = config.get("compile_config")
    loss = compile_config.get("loss") if isinstance(compile_config, dict) else None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return contract_from_config(
        config,
        path=path,
        fmt="keras",
        loss_config=loss,
        compiled=isinstance(compile_config, dict),
        keras_version=version if isinstance(version, str) else None,
        proven_buildable=proven_buildable(config, holds_weights),
    )


def _read_json_architecture(path: str) -> ModelContract:
    size = safeio.regular_file_size(path)
    if size > safeio.MAX_JSON_BYTES:
        raise ModelReadError(path, f"a {size}-byte JSON file is too large for a model config")
    with open(path, "rb") as fh:
        config = parse_json_text(fh.read(), "the JSON file")
    if not isinstance(config, dict):
        raise ConfigError("the JSON file is not a model config object")
    version = config.get("keras_version")
    return contract_from_config(
        config,
        path=path,
        fmt="json",
        keras_version=version if isinstance(version, str) else None,
    )
