"""SavedModel folders: the serving signature only, parsed from `saved_model.pb`.

The one model reader that needs TensorFlow (for the protobuf classes), imported here, lazily,
in the run's Keras child process (model/load.py). Nothing in the SavedModel is loaded or run:
its graph is a program (TF SECURITY.md).
"""

from __future__ import annotations

import os

from kerasfix import safeio
from kerasfix.errors import ModelReadError
from kerasfix.findings import Shape
from kerasfix.model.contract import InputSpec, ModelContract, OutputSpec
from kerasfix.model.quiet import native_stderr_silenced, quiet_environment

MAX_SAVED_MODEL_PB_BYTES = 512 * 1024 * 1024


def read_savedmodel(path: str) -> ModelContract:
    pb_path = os.path.join(path, "saved_model.pb")
    size = safeio.regular_file_size(pb_path)
    if size > MAX_SAVED_MODEL_PB_BYTES:
        raise ModelReadError(path, f"saved_model.pb is {size} bytes, past the reading limit")
    quiet_environment()
    with native_stderr_silenced():
        # TensorFlow first: where it is missing, that is what the reason names.
        # isort: off
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow.python.framework import dtypes
        from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

        # isort: on

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
