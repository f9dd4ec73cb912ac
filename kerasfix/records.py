"""Diagnosing a TFRecord shard: its features mapped to the model, each checked from the one
pass the loader made (loaders.tfrecord.survey), and a summary per feature for the report.

Called by api.diagnose_file for every shard; the value checks and the model-patch question
are api's own (passed in, so this module sits below the api that uses it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kerasfix.checks import CHECKS, InputContext
from kerasfix.checks.kf0_read import NoMatchingArray, UnreadableData
from kerasfix.checks.records import FeatureContext, for_image_feature, parse_spec
from kerasfix.findings import FileResult
from kerasfix.loaders.base import DataFile
from kerasfix.loaders.keys import RECORD_X_KEYS, RECORD_Y_KEYS, Group, map_arrays
from kerasfix.loaders.tfrecord import FeatureSurvey, ShardSurvey, stats_for
from kerasfix.model.contract import ModelContract
from kerasfix.options import DiagnoseOptions

ValueCheck = Callable[..., None]
NUMERIC = ("int64_list", "float_list")


def as_parsed(rows: Any, sample_shape: Any) -> Any:
    """Rows of a TFRecord feature (flat lists) in the shape the parse spec gives them
    (`FixedLenFeature(sample_shape)`), when the counts agree; else as they are."""
    if (
        None not in sample_shape
        and tuple(rows.shape[1:]) != tuple(sample_shape)
        and len(rows)
        and rows[0].size == math.prod(sample_shape)
    ):
        return rows.reshape((len(rows), *sample_shape))
    return rows


def _known(feature: FeatureSurvey) -> Callable[[Any], Any]:
    def stats(plan: Any) -> Any:
        return stats_for(feature, plan.maxlen, plan.ignore_value)

    return stats


def check_shard(
    contract: ModelContract,
    options: DiagnoseOptions,
    file: DataFile,
    groups: list[Group],
    check_values: ValueCheck,
) -> tuple[list[FileResult], dict[str, Any]]:
    """The results of one shard (bad records as KF001 on the file, then one result per
    feature that feeds the model) and its per-feature summary."""
    shard: ShardSurvey = file.records
    results: list[FileResult] = []
    if shard.bad_count:
        findings = [UnreadableData.for_record(b.index, b.offset, b.reason) for b in shard.bad]
        if shard.bad_count > len(shard.bad):
            findings.append(UnreadableData.more_records(shard.bad_count, len(shard.bad)))
        results.append(FileResult(path=file.path, role="file", findings=findings))
    group = map_arrays(file, contract, options.keys, RECORD_X_KEYS, RECORD_Y_KEYS)
    feeds: dict[str, tuple[str, str, Any]] = {}
    if not group.x and not group.y:
        results.append(
            FileResult(
                path=file.path,
                role="file",
                findings=[
                    NoMatchingArray.finding(
                        what="no feature maps to the model's inputs ("
                        + ", ".join(repr(i.name) for i in contract.inputs)
                        + "); the records hold "
                        + (", ".join(repr(k) for k in sorted(file.arrays)) or "none"),
                        why="kerasfix cannot tell which feature is the input and which the labels",
                        fix="name them: --x FEATURE (or --x input_name=FEATURE) and --y FEATURE",
                        expected=[i.name for i in contract.inputs],
                        received=sorted(file.arrays),
                    )
                ],
            )
        )
        return results, summaries(shard, feeds)
    groups.append(group)
    anchor: FileResult | None = None
    for name, ref in group.x.items():
        feature = shard.features[ref.key or ""]
        inp = contract.input_named(name)
        result = FileResult(
            path=ref.path, key=ref.key, role="x", input=name, shape=ref.shape, dtype=ref.dtype
        )
        anchor = anchor or result
        results.append(result)
        if inp is None:
            continue
        feeds[feature.name] = ("input", name, parse_spec(feature, inp.sample_shape))
        ctx = FeatureContext(contract, options, ref, feature, shard, input=inp)
        for check in CHECKS:
            if check.scope == "record_input":
                result.findings.extend(check.run(ctx))
        if feature.kind == "bytes_list" and feature.is_images:
            for check in CHECKS:
                if check.scope == "input":
                    found = check.run(InputContext(contract, options, ref, inp))
                    result.findings.extend(for_image_feature(f, feature) for f in found)
        else:
            known = _known(feature) if feature.kind in NUMERIC else (lambda plan: None)
            check_values(contract, options, result, ref, "input_values", input=inp, known=known)
    for name, ref in group.y.items():
        if any(r.key == ref.key and r.role == "x" for r in results):
            continue
        feature = shard.features[ref.key or ""]
        out = next((o for o in contract.outputs if o.name == name), None)
        result = FileResult(
            path=ref.path, key=ref.key, role="y", output=name, shape=ref.shape, dtype=ref.dtype
        )
        anchor = anchor or result
        results.append(result)
        if out is None:
            continue
        feeds[feature.name] = ("output", name, parse_spec(feature, None))
        ctx = FeatureContext(contract, options, ref, feature, shard, output=out)
        for check in CHECKS:
            if check.scope == "record_label":
                result.findings.extend(check.run(ctx))
        if not feature.ragged:
            known = _known(feature) if feature.kind in NUMERIC else (lambda plan: None)
            check_values(contract, options, result, ref, "label_values", output=out, known=known)
    # KF301-KF303 are not asked per shard: tf.data reads the shards as one stream, so a
    # shard's record count says nothing about batches or pairing (each record pairs its own
    # features; one lacking a feature is KF002 above).
    missing = [i.name for i in contract.inputs if i.name not in group.x]
    if missing and anchor is not None:
        anchor.findings.append(
            NoMatchingArray.finding(
                what=f"no feature feeds input(s) {', '.join(map(repr, missing))}; the records "
                "hold " + ", ".join(repr(k) for k in sorted(file.arrays)),
                why="training needs a feature for every model input",
                fix="name them: --x input_name=FEATURE for each input",
                expected=[i.name for i in contract.inputs],
                received=sorted(file.arrays),
            )
        )
    return results, summaries(shard, feeds)


def _number(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    return int(value) if value.is_integer() else value


def summaries(shard: ShardSurvey, feeds: dict[str, tuple[str, str, Any]]) -> dict[str, Any]:
    """The shard's readable records and, per feature: kind, records holding it and lacking
    it, list lengths, value range, image sizes; and for a feature that feeds the model, what
    and how to parse it."""
    out: dict[str, dict[str, Any]] = {}
    for name, feature in sorted(shard.features.items()):
        stats = feature.stats.get(None)
        entry: dict[str, Any] = {
            "kind": feature.kind,
            "files": 1,
            "records": feature.present,
            "missing": shard.missing(name),
            "length": [feature.min_length, feature.max_length],
            "min": _number(stats.min) if stats is not None else None,
            "max": _number(stats.max) if stats is not None else None,
            "nan": stats.nan if stats is not None else 0,
            "inf": stats.inf if stats is not None else 0,
        }
        if feature.is_images and feature.images is not None:
            entry["images"] = {
                "sizes": {f"{w}x{h}": n for (h, w), n in sorted(feature.images.sizes.items())},
                "channels": {str(c): n for c, n in sorted(feature.images.channels.items())},
                "unreadable": feature.images.unreadable_count,
            }
        if name in feeds:
            role, target, spec = feeds[name]
            entry["feeds"] = {"role": role, "name": target}
            entry["parse"] = spec
        out[name] = entry
    return {"records": shard.records, "features": out}


def merge_summaries(shards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every shard's feature summaries as one per feature across the run; a feature a shard
    lacks entirely counts that shard's records as missing."""
    merged: dict[str, dict[str, Any]] = {}
    total = sum(int(shard["records"]) for shard in shards)
    for shard in shards:
        for name, entry in shard["features"].items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = {**entry, "length": list(entry["length"])}
                if "images" in entry:
                    merged[name]["images"] = {
                        "sizes": dict(entry["images"]["sizes"]),
                        "channels": dict(entry["images"]["channels"]),
                        "unreadable": entry["images"]["unreadable"],
                    }
                continue
            if seen["kind"] != entry["kind"]:
                seen["kind"] = "mixed"
            for key in ("files", "records", "missing", "nan", "inf"):
                seen[key] += entry[key]
            seen["length"] = [
                min(seen["length"][0], entry["length"][0]),
                max(seen["length"][1], entry["length"][1]),
            ]
            for key, pick in (("min", min), ("max", max)):
                values = [v for v in (seen[key], entry[key]) if v is not None]
                seen[key] = pick(values) if values else None
            if "images" in entry:
                images = seen.setdefault("images", {"sizes": {}, "channels": {}, "unreadable": 0})
                for part in ("sizes", "channels"):
                    for size, n in entry["images"][part].items():
                        images[part][size] = images[part].get(size, 0) + n
                images["unreadable"] += entry["images"]["unreadable"]
            for key in ("feeds", "parse"):
                if key in entry and key not in seen:
                    seen[key] = entry[key]
    for entry in merged.values():
        entry["missing"] = total - entry["records"]
    return dict(sorted(merged.items()))
