"""Rendering `kerasfix explain`: a rule's page, or the rules a pasted error points to."""

from __future__ import annotations

import json
from typing import Any

from kerasfix.explain import Match


def render_matches_text(matches: list[Match], confirmed: dict[str, list[str]] | None) -> str:
    if not matches:
        return (
            "No rule matches this text. kerasfix explains the shape, index, label, batch and "
            "sequence errors of Keras and TensorFlow; this looks like another kind of error.\n"
        )
    lines = []
    for match in matches:
        lines.append(f"{match.code} {match.name} (confidence {match.confidence:.2f})")
        lines.append(f"  message: {match.versions} ({match.pattern})")
        if match.cause:
            lines.append(f"  cause: {match.cause}")
        if match.values:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(match.values.items()))
            lines.append(f"  values: {shown}")
        lines.append(f"  next: {match.fix}")
        if confirmed is not None:
            where = confirmed.get(match.code, [])
            lines.append(
                f"  confirmed by diagnose in: {', '.join(where)}"
                if where
                else "  not confirmed: diagnose found no such finding in the given data"
            )
    return "\n".join(lines) + "\n"


def render_matches_json(matches: list[Match], confirmed: dict[str, list[str]] | None) -> str:
    entries: list[dict[str, Any]] = []
    for match in matches:
        entry = match.to_dict()
        if confirmed is not None:
            entry["confirmed"] = confirmed.get(match.code, [])
        entries.append(entry)
    return json.dumps({"schema_version": 1, "matches": entries}, indent=2, sort_keys=True) + "\n"
