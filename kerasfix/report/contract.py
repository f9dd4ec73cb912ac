"""`kerasfix inspect`: the model's data contract as text or JSON."""

from __future__ import annotations

import json

from kerasfix.model.contract import ModelContract, format_shape


def render_text(contract: ModelContract) -> str:
    lines = [f"model: {contract.path} ({contract.format})"]
    for inp in contract.inputs:
        lines.append(
            f"input  '{inp.name}': batch_shape={format_shape(inp.batch_shape)} dtype={inp.dtype}"
            + (f" -> {', '.join(inp.consumers)}" if inp.consumers else "")
        )
        for emb in inp.embeddings:
            lines.append(
                f"  embedding '{emb.layer}': input_dim={emb.input_dim} "
                f"(token ids in [0, {emb.input_dim})) mask_zero={emb.mask_zero}"
            )
    for out in contract.outputs:
        loss = (
            f" loss={out.loss.name}"
            + ("" if out.loss.from_logits is None else f" from_logits={out.loss.from_logits}")
            if out.loss
            else ""
        )
        lines.append(
            f"output '{out.name}': shape={format_shape(out.shape)} units={out.units} "
            f"activation={out.activation}{loss}"
        )
    if not contract.compiled:
        lines.append("loss: none (the model was saved without compile)")
    batch = contract.fixed_batch_size
    lines.append(f"batch size: {'not fixed' if batch is None else f'fixed at {batch}'}")
    if contract.stateful_layers:
        lines.append(f"stateful layers: {', '.join(contract.stateful_layers)}")
    for unsafe in contract.unsafe_layers:
        lines.append(f"unsafe: '{unsafe.name}' ({unsafe.class_name}): {unsafe.reason} [KF003]")
    return "\n".join(lines) + "\n"


def render_json(contract: ModelContract) -> str:
    return json.dumps({"schema_version": 1, **contract.to_dict()}, indent=2, sort_keys=True) + "\n"
