"""`kerasfix rules`: every rule with its code, name, severity and repair."""

from __future__ import annotations

import json

from kerasfix.checks import RULES


def render_text() -> str:
    rows = [("code", "name", "severity", "repair")] + [
        (r.code, r.name, r.severity.label, r.repair) for r in RULES.values()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def render_json() -> str:
    return (
        json.dumps(
            {
                "schema_version": 1,
                "rules": [
                    {
                        "code": r.code,
                        "name": r.name,
                        "severity": r.severity.label,
                        "applicability": r.applicability.value,
                        "repair": r.repair,
                        "trigger": r.trigger,
                    }
                    for r in RULES.values()
                ],
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
