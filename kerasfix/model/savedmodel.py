"""SavedModel folders: the serving signature only, parsed from `saved_model.pb`.

The one model reader that needs TensorFlow (for the protobuf classes), imported here, lazily.
Nothing in the SavedModel is loaded or run: its graph is a program (TF SECURITY.md).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from kerasfix import safeio
from kerasfix.errors import ModelReadError
from kerasfix.findings import Shape
from kerasfix.model.contract import InputSpec, ModelContract, OutputSpec

MAX_SAVED_MODEL_PB_BYTES = 512 * 1024 * 1024


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Importing TensorFlow makes its C++ side print (`cudart_stub.cc: Could not find cuda
    drivers`) before absl logging is set up, so no environment variable silences it; stderr
    belongs to kerasfix's own one-line messages. Python errors still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def read_savedmodel(path: str) -> ModelContract:
    pb_path = os.path.join(path, "saved_model.pb")
    size = safeio.regular_file_size(pb_path)
    if size > MAX_SAVED_MODEL_PB_BYTES:
        raise ModelReadError(path, f"saved_model.pb is {size} bytes, past the reading limit")
    # TF 2.21's absl/oneDNN lines are silenced only by all three (shared/research/security.md).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("GLOG_minloglevel", "3")
    with _native_stderr_silenced():
        from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow.python.framework import dtypes

    proto = saved_model_pb2.SavedModel()
    try:
        with open(pb_path, "rb") as fh:
            proto.ParseFromString(fh.read())
    except DecodeError as exc:
        raise ModelReadError(path, f"saved_model.pb is not a SavedModel ({exc})") from None
    signatures = {k: v for mg in proto.meta_graphs for k, v in mg.signature_def.items()}
    signature = signatures.get("serving_default") or next(iter(signatures.values()), None)
    if signature is None:
        raise ModelReadError(path, "the SavedModel has no signatures")

    def shape_of(info: object) -> Shape:
        tensor_shape = info.tensor_shape  # type: ignore[attr-defined]
        if tensor_shape.unknown_rank:
            return ()
        return tuple(None if d.size < 0 else int(d.size) for d in tensor_shape.dim)

    def dtype_of(info: object) -> str:
        try:
            return str(dtypes.as_dtype(info.dtype).name)  # type: ignore[attr-defined]
        except TypeError:
            return "unknown"

    inputs = tuple(
        InputSpec(name=name, batch_shape=shape_of(info), dtype=dtype_of(info))
        for name, info in sorted(signature.inputs.items())
    )
    outputs = tuple(
        OutputSpec(
            name=name,
            layer_class="signature",
            shape=shape_of(info),
            units=shape_of(info)[-1] if shape_of(info) else None,
            activation=None,
        )
        for name, info in sorted(signature.outputs.items())
    )
    return ModelContract(path=path, format="savedmodel", inputs=inputs, outputs=outputs)
