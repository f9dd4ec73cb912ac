"""Shared by the bench scripts: rewriting one section of docs/benchmarks.md."""

from __future__ import annotations


def replace_section(text: str, title: str, body: str) -> str:
    """Swap the `## title` section of the page (or append it), keeping the others."""
    head = f"## {title}\n"
    if head not in text:
        return text.rstrip("\n") + "\n\n" + head + body
    before, rest = text.split(head, 1)
    after = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
    return before + head + body + ("\n" + after if after else "")
