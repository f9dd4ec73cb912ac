"""The text report: one block per finding, sorted by path, key, code; then a summary line."""

from __future__ import annotations

from kerasfix.findings import FileResult, Finding, Report, Severity

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _where(result: FileResult) -> str:
    return result.path + (f"::{result.key}" if result.key else "")


def _block(result: FileResult, f: Finding, color: bool) -> str:
    head = (
        f"{_paint(_where(result), '1', color)}  {_paint(f.code, '1', color)} "
        f"{_paint(f.severity.label, _COLORS[f.severity], color)}  {f.name}"
    )
    return f"{head}\n  {f.what}\n  why: {f.why}\n  fix: {f.fix}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(report: Report) -> str:
    counts = [
        _plural(n, word)
        for n, word in (
            (report.count(Severity.ERROR), "error"),
            (report.count(Severity.WARNING), "warning"),
            (report.count(Severity.INFO), "info"),
        )
        if n
    ]
    files = _plural(report.files, "file")
    if not counts and report.interrupted:  # not a pass: some files were never looked at
        return f"No problems found in the {files} finished."
    if not counts:
        where = f" in {files}" if report.files else " in the model" if report.notes else ""
        # A check that could not run is not a pass for what it would have checked.
        unchecked = f" ({_plural(len(report.notes), 'note')} above)" if report.notes else ""
        return f"No problems found{where}{unchecked}."
    dirty = len({r.path for r in report.results if r.findings and r.role != "model"})
    places = []
    if any(r.findings for r in report.results if r.role == "model"):
        places.append("the model")
    if dirty:
        places.append(f"{dirty} of {files}" if dirty != report.files else files)
    return f"{', '.join(counts)} in {' and '.join(places)}."


def feature_lines(report: Report) -> list[str]:
    """TFRecord runs: each feature across the shards, and how to parse those the model reads."""
    lines = []
    for name, entry in report.features.items():
        low, high = entry["length"]
        length = f"length {low}" if low == high else f"lengths {low}..{high}"
        values = f", values {entry['min']}..{entry['max']}" if entry.get("min") is not None else ""
        missing = f", missing from {entry['missing']}" if entry.get("missing") else ""
        line = (
            f"feature '{name}': {entry['kind']} in {entry['records']} records of "
            f"{_plural(entry['files'], 'file')}, {length}{values}{missing}"
        )
        if "feeds" in entry:
            line += f"\n  feeds {entry['feeds']['role']} '{entry['feeds']['name']}': parse with "
            line += entry["parse"]
        lines.append(line)
    return lines


def render(report: Report, color: bool = False) -> str:
    blocks = [_block(r, f, color) for r in report.results for f in r.findings]
    notes = [
        f"{_paint(_where(r), '1', color)}  {_paint('note', _COLORS[Severity.INFO], color)}  {note}"
        for r in report.results
        for note in r.notes
    ]
    notes += [f"{_paint('note', _COLORS[Severity.INFO], color)}: {note}" for note in report.notes]
    lines = [*blocks, *notes, *feature_lines(report), summary_line(report)]
    if report.interrupted:
        lines.append(_paint(interrupted_line(report), _COLORS[Severity.WARNING], color))
    return "\n".join(lines) + "\n"


# Files not reached that an interrupted report names; the JSON report lists them all.
NOT_REACHED_SHOWN = 10


def interrupted_line(report: Report) -> str:
    """What an interrupted run did and did not check: never to be read as a pass."""
    total = len(report.finished) + len(report.not_reached)
    shown = ", ".join(report.not_reached[:NOT_REACHED_SHOWN])
    more = len(report.not_reached) - NOT_REACHED_SHOWN
    return (
        f"Interrupted: {len(report.finished)} of {_plural(total, 'DATA file')} finished"
        + (f"; not reached: {shown}" if shown else "")
        + (f" and {more} more" if more > 0 else "")
        + "."
    )
