"""Tables (`.csv`/`.tsv`): a feature count that differs from the input's by exactly the columns
that look like ids or labels is that, most likely, and the finding says so.

Pure: reads the column names the loader put on the arrays (`ArrayRef.columns`), never the file.
A pandas export with `index=True` adds an unnamed first column; a kept row id, or a second
label column, adds one more feature than the model was built for; a feature called `label`
taken for the labels leaves one too few.
"""

from __future__ import annotations

import dataclasses

from kerasfix.findings import Finding
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.csv_file import label_name, normalized

ID_NAMES = frozenset(
    {"id", "ids", "index", "idx", "row", "row_id", "rowid", "sample_id", "uid", "uuid", "key"}
)


def id_name(name: str) -> bool:
    """A row id or an index pandas wrote: `id`, `customer_id`, `Unnamed: 0`, an empty name."""
    n = normalized(name)
    return n in ID_NAMES or n.endswith("_id") or n.startswith("unnamed:") or not n


def _names(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def for_table(finding: Finding, x: ArrayRef, y: ArrayRef | None) -> Finding:
    """KF107 on a table's features, refined where id-like or label-like columns explain the
    difference exactly."""
    if finding.code != "KF107" or not x.columns or not isinstance(finding.expected, list):
        return finding
    want, got = finding.expected[-1], x.shape[-1]
    if not isinstance(want, int):
        return finding
    extra = [c for c in x.columns if id_name(c) or label_name(c)]
    if got > want and extra and got - want == len(extra):
        ids = any(id_name(c) for c in extra)
        labels = any(label_name(c) and not id_name(c) for c in extra)
        if len(extra) == 1:
            looks = f"{extra[0]!r} looks like {'an id' if ids else 'a label'} column, not a feature"
        else:
            kinds = " or ".join(k for k, found in (("id", ids), ("label", labels)) if found)
            looks = f"{_names(extra)} look like {kinds} columns, not features"
        return dataclasses.replace(
            finding,
            what=f"{finding.what}; {looks}: without {'it' if len(extra) == 1 else 'them'} the "
            f"table has exactly the {want} the input takes",
            fix=f"drop {_names(extra)} before training (pandas: df.drop(columns=[...]), or "
            "to_csv(index=False) where it is the index); if one is the label, name it with "
            "--y COLUMN [no automatic fix]",
            details={**finding.details, "not_features": extra},
        )
    taken = y.columns[0] if y is not None and y.columns and y.label_column is None else None
    if taken is not None and want - got == 1:
        return dataclasses.replace(
            finding,
            what=f"{finding.what}; the column {taken!r} was taken as the labels by its name: "
            f"with it the table has exactly the {want} the input takes",
            fix=f"if {taken!r} is a feature, name the label column with --y COLUMN; else the "
            f"features are not the model's [no automatic fix]",
            details={**finding.details, "label_column_by_name": taken},
        )
    return finding
