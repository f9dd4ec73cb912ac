"""Repairing TFRecord shards: the same records in the same order, the fixed features rewritten.

Each record is parsed with kerasfix's copy of example.proto (loaders.tfrecord), its planned
features transformed as one-row chunks by the same transforms every other writer uses
(repair.transforms: pad, pad_sequences, shift, argmax, one_hot, map_oov for --oov-id, ...;
any row-local transform registered there applies to records as it is), and written back; records
no action touches are copied as they were. The shard is framed and compressed as its source.

Records that cannot be repaired (unreadable, or lacking a feature an action rewrites) are kept
as they were and counted; they are dropped only by the unsafe `drop_records` actions that
`--unsafe-fixes` allows, and counted then too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kerasfix.findings import Applicability
from kerasfix.loaders.tfrecord import (
    BadRecord,
    RecordWriter,
    ShardSurvey,
    example_class,
    iter_framed,
    raw_regions,
)
from kerasfix.repair.transforms import ELEMENTWISE, TRANSFORMS, pad_sequences

if TYPE_CHECKING:
    from kerasfix.api import Diagnosis
    from kerasfix.repair.plan import FilePlan, RepairOptions, RepairPlan
    from kerasfix.repair.writers import ArrayJob

Array = np.ndarray[Any, Any]
FORMAT = "tfrecord"
DROP_UNREADABLE = "drop_unreadable_records"
DROP_LACKING = "drop_records_lacking"


def plan_drops(
    plan: RepairPlan,
    diagnosis: Diagnosis,
    options: RepairOptions,
    by_path: dict[str, FilePlan],
    new_plan: Callable[[str], FilePlan],
) -> None:
    """The records of a shard that cannot be repaired (unreadable; lacking a feature the model
    reads) are dropped by unsafe actions, which --unsafe-fixes allows; without it they are kept
    as they were in any shard rewritten for another fix. An allowed drop takes its findings off
    the not-repaired list: the re-check confirms they are gone."""
    from kerasfix.repair.plan import RepairAction

    fed: dict[str, set[str]] = {}
    for group in diagnosis.groups:
        for ref in (*group.x.values(), *group.y.values()):
            if ref.key is not None:
                fed.setdefault(ref.path, set()).add(ref.key)
    for path, data in diagnosis.files.items():
        if data.format != FORMAT or data.records is None:
            continue
        shard: ShardSurvey = data.records
        lacking = {k: shard.missing(k) for k in sorted(fed.get(path, ())) if shard.missing(k)}
        drops = []
        if shard.bad_count:
            drops.append(
                RepairAction(
                    code="KF001",
                    action=DROP_UNREADABLE,
                    key=None,
                    applicability=Applicability.UNSAFE.value,
                    params={},
                    lost={"records_dropped": shard.bad_count},
                    description=f"drop {shard.bad_count} unreadable record(s) [unsafe]",
                )
            )
        for key, count in lacking.items():
            drops.append(
                RepairAction(
                    code="KF002",
                    action=DROP_LACKING,
                    key=key,
                    applicability=Applicability.UNSAFE.value,
                    params={"feature": key},
                    lost={"records_dropped": count},
                    description=f"drop {count} record(s) lacking feature '{key}' [unsafe]",
                )
            )
        if not drops:
            continue
        file = by_path.get(path)
        if file is None:
            file = by_path[path] = new_plan(path)
        for drop in drops:
            if not options.unsafe_fixes:
                file.skipped.append(drop)
                continue
            file.actions.append(drop)
            plan.unfixable = [
                (p, k, f)
                for p, k, f in plan.unfixable
                if not (p == path and f.code == drop.code and k == drop.key)
            ]


def _transform(values: Array, job: ArrayJob) -> Array:
    """The steps on one record's list, as a one-row chunk; value-by-value ones (--oov-id's
    map_oov) first, so that a pad value is never mapped."""
    steps = [s for s in job.steps if s[0] in ELEMENTWISE]
    steps += [s for s in job.steps if s[0] not in ELEMENTWISE]
    for name, params in steps:
        if name in (DROP_UNREADABLE, DROP_LACKING):
            continue
        if name == "pad_sequences":
            values = pad_sequences([values], params)[0]
        else:
            values = TRANSFORMS[name](values[np.newaxis], params)[0]
    return np.atleast_1d(values)


def _set(feature: Any, values: Array) -> None:
    kind = "float_list" if values.dtype.kind in "fc" else "int64_list"
    feature.Clear()
    getattr(feature, kind).value.extend(values.tolist())


def write_shard(
    src: str,
    dst: str,
    jobs: dict[str | None, ArrayJob],
    actions: list[Any],
    compression: str,
    skipped: list[Any] = (),  # type: ignore[assignment]
) -> dict[str, int]:
    """Write the repaired shard to `dst`; the record counts for the manifest (records kept
    that lack a feature a skipped drop names are counted as kept_lacking)."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    example_type = example_class()
    names = {action.action for action in actions}
    drop_unreadable = DROP_UNREADABLE in names
    drop_lacking = {a.params["feature"] for a in actions if a.action == DROP_LACKING}
    drop_nonfinite = "drop_nonfinite_rows" in names
    kept_lacking = [a.params["feature"] for a in skipped if a.action == DROP_LACKING]
    counts: Counter[str] = Counter()
    read_region = raw_regions(src, compression)
    with open(dst, "wb") as fh:
        writer = RecordWriter(fh, compression)
        for item in iter_framed(src, compression):
            counts["records_in"] += 1
            if isinstance(item, BadRecord):
                if drop_unreadable:
                    counts["dropped_unreadable"] += 1
                else:  # its bytes as they were: nothing is lost without --unsafe-fixes
                    writer.write_raw(read_region(item.offset, item.end))
                    counts["kept_unreadable"] += 1
                    counts["records_out"] += 1
                continue
            try:
                example = example_type.FromString(item.data)
            except DecodeError:
                if drop_unreadable:
                    counts["dropped_unreadable"] += 1
                else:
                    writer.write(item.data)
                    counts["kept_unreadable"] += 1
                    counts["records_out"] += 1
                continue
            entries = {e.key: e for e in example.features.feature}
            changed = False
            absent = {k for k in jobs if k is not None and k.encode() not in entries}
            if absent & drop_lacking:
                counts["dropped_lacking"] += 1
                continue
            if absent or any(k.encode() not in entries for k in kept_lacking):
                counts["kept_lacking"] += 1
            nonfinite = False
            for key, job in jobs.items():
                entry = entries.get((key or "").encode())
                if entry is None:
                    continue
                kind = entry.value.WhichOneof("kind")
                if kind not in ("int64_list", "float_list"):
                    continue
                dtype = np.int64 if kind == "int64_list" else np.float32
                values = np.asarray(getattr(entry.value, kind).value, dtype=dtype)
                if drop_nonfinite and kind == "float_list" and not np.isfinite(values).all():
                    nonfinite = True
                    break
                if job.steps:
                    new = _transform(values, job)
                    if new.shape != values.shape or not np.array_equal(new, values):
                        _set(entry.value, new)
                        changed = True
            if nonfinite:
                counts["dropped_nonfinite"] += 1
                continue
            counts["changed"] += changed
            writer.write(example.SerializeToString() if changed else item.data)
            counts["records_out"] += 1
        writer.close()
    return dict(counts)
