"""A documentation page per rule, generated from the rule's own docstring (and the error
messages of the explain catalogue that point to it), so docs cannot drift.

    python -m kerasfix.report.ruledocs docs/rules     # rewrite the pages
"""

from __future__ import annotations

import sys
from pathlib import Path

from kerasfix.checks import RULES
from kerasfix.checks.base import Rule
from kerasfix.explain.catalog import CATALOGUE


def rule_page(rule: type[Rule]) -> str:
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        f"Severity: **{rule.severity.label}**. Repair: {rule.repair}. Applicability: "
        f"{rule.applicability.value}.",
        "",
        f"Trigger: {rule.trigger}.",
        "",
        rule.doc(),
    ]
    if rule.causes:
        lines += ["", "## Causes kerasfix recognises", "", "| cause | what it looks like | fix |"]
        lines += ["|---|---|---|"]
        lines += [f"| `{c}` | {seen} | {fix} |" for c, seen, fix in rule.causes]
        if any(fix.endswith("*") or "*" in fix for _, _, fix in rule.causes):
            lines += [
                "",
                "\\* the edit `kerasfix repair --unsafe-fixes` applies, once Keras confirms "
                "the edited model builds, maps the data and trains one step.",
            ]
    messages = [p for p in CATALOGUE if p.code == rule.code]
    if messages:
        lines += ["", "## Error messages that point here", ""]
        lines += [f"- {p.versions}: `{p.example.splitlines()[0]}`" for p in messages]
    lines += ["", f"Print this page with `kerasfix explain {rule.code}`.", ""]
    return "\n".join(lines)


def write_pages(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for code, rule in RULES.items():
        path = folder / f"{code}.md"
        path.write_text(rule_page(rule))
        written.append(path)
    return written


if __name__ == "__main__":
    for page in write_pages(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/rules")):
        sys.stdout.write(f"{page}\n")
