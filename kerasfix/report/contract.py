"""`kerasfix inspect`: the model's data contract as text or JSON."""

from __future__ import annotations

import json
from typing import Any

from kerasfix.model.architecture import BuildOutcome
from kerasfix.model.contract import ModelContract, format_shape


def _layer_lines(layers: BuildOutcome | None, note: str | None) -> list[str]:
    if layers is None:
        return [f"layers: {note}"] if note else []
    lines = ["layers (as Keras builds them):"]
    width = max((len(f"{s.name} ({s.class_name})") for s in layers.layers), default=0)
    for shapes in layers.layers:
        label = f"{shapes.name} ({shapes.class_name})"
        inside = "".join(f" in '{p}'" for p in shapes.path)
        outs = ", ".join(format_shape(s) for s in shapes.outputs)
        lines.append(f"  {label:<{width}}  -> {outs}{inside}")
    if layers.broken is not None:
        brk = layers.broken
        received = ", ".join(format_shape(s) for s in brk.received)
        first = brk.message.splitlines()[0] if brk.message else brk.error
        lines.append(f"  {brk.where} breaks on {received}: {first} [KF601]")
    if layers.unsupported:
        lines.append(f"  {layers.unsupported}")
    return lines


def render_text(
    contract: ModelContract, layers: BuildOutcome | None = None, note: str | None = None
) -> str:
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
    lines.extend(_layer_lines(layers, note))
    return "\n".join(lines) + "\n"


def render_json(
    contract: ModelContract, layers: BuildOutcome | None = None, note: str | None = None
) -> str:
    doc: dict[str, Any] = {"schema_version": 1, **contract.to_dict()}
    doc["layers"] = [s.to_dict() for s in layers.layers] if layers is not None else None
    doc["layers_note"] = note
    if layers is not None and layers.broken is not None:
        brk = layers.broken
        doc["layer_break"] = {
            "layer": brk.name,
            "class_name": brk.class_name,
            "path": list(brk.path),
            "received": [list(s) for s in brk.received],
            "message": brk.message,
        }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
