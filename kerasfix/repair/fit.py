"""`--verify-fit`: one real training step on the repaired data, on the CPU.

The one place repair imports Keras (lazily). The model is loaded with Keras's safe mode; a
model holding code (KF003) is refused unless --trust-model.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from kerasfix.api import Diagnosis
from kerasfix.errors import UsageError
from kerasfix.loaders import DataFile, read_data_file
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.chunks import iter_chunks
from kerasfix.repair.plan import RepairPlan

MAX_ROWS = 32


def _head(ref: ArrayRef, rows: int) -> np.ndarray[Any, Any]:
    parts = []
    got = 0
    for _, chunk in iter_chunks(ref):
        parts.append(np.array(chunk[: rows - got]))
        got += len(parts[-1])
        if got >= rows:
            break
    return np.concatenate(parts) if parts else np.zeros((0,))


def verify_fit(
    model_path: str, diagnosis: Diagnosis, plan: RepairPlan, trust_model: bool
) -> dict[str, Any]:
    contract = diagnosis.contract
    if contract.format == "savedmodel":
        raise UsageError("--verify-fit needs a Keras model; a SavedModel cannot be trained")
    if contract.unsafe_layers and not trust_model:
        raise UsageError(
            f"{model_path}: --verify-fit would run code the model holds "
            f"({contract.unsafe_layers[0].class_name}); pass --trust-model if you trust it"
        )
    written = {f.path: os.path.join(plan.out_dir, f.output) for f in plan.files if f.actions}
    outputs: dict[str, DataFile] = {}

    def current(ref: ArrayRef) -> ArrayRef:
        if ref.path not in written:
            return ref
        if written[ref.path] not in outputs:
            outputs[written[ref.path]] = read_data_file(written[ref.path])
        return outputs[written[ref.path]].arrays[ref.key or ""]

    group = next((g for g in diagnosis.groups if g.x and g.y), None)
    if group is None:
        return {"status": "skipped", "reason": "no data file pairs inputs with labels"}
    xs = {name: current(ref) for name, ref in group.x.items()}
    ys = {name: current(ref) for name, ref in group.y.items()}
    if any(r.ragged for r in (*xs.values(), *ys.values())):
        return {"status": "skipped", "reason": "the data is still ragged"}
    rows = contract.fixed_batch_size or min(MAX_ROWS, *(r.shape[0] for r in xs.values()))
    x = {name: _head(ref, rows) for name, ref in xs.items()}
    y = {name: _head(ref, rows) for name, ref in ys.items()}

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the check runs on the CPU, as documented
    import keras

    model = keras.saving.load_model(model_path, compile=True, safe_mode=not trust_model)
    if getattr(model, "loss", None) is None and not getattr(model, "compiled", False):
        return {"status": "skipped", "reason": "the model was saved without a loss"}
    x_in = x if len(x) > 1 else next(iter(x.values()))
    y_in = y if len(y) > 1 else next(iter(y.values()))
    try:
        loss = model.train_on_batch(x_in, y_in)
    except Exception as exc:  # Keras raises many types; the message is what the user needs
        text = str(exc).strip().splitlines()
        return {"status": "fail", "rows": rows, "error": text[-1] if text else type(exc).__name__}
    value = float(np.asarray(loss).ravel()[0])
    return {"status": "pass", "rows": rows, "loss": value}
