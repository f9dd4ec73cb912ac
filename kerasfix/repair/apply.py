"""Apply a RepairPlan: resolve row selections, write every file atomically, hash inputs and
outputs, write the manifest, then diagnose the outputs again."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerasfix import __version__
from kerasfix.api import Diagnosis, run_diagnosis
from kerasfix.errors import DataReadError, WriteError
from kerasfix.findings import Report, Severity
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.chunks import iter_chunks
from kerasfix.options import DiagnoseOptions
from kerasfix.repair import writers
from kerasfix.repair.atomic import atomic_path, sha256_file
from kerasfix.repair.plan import ROW_ACTIONS, FilePlan, RepairPlan
from kerasfix.stats import ScanPlan, scan

MANIFEST = "kerasfix-repair.json"
# Entries of the files written so far, one JSON line each, fsynced as each file lands: what an
# interrupted run leaves for the next one to resume from. Hidden, so DATA folders skip it.
JOURNAL = ".kerasfix-repair.journal"
Array = np.ndarray[Any, Any]


@dataclass
class RepairOutcome:
    plan: RepairPlan
    manifest: dict[str, Any]
    verification: Report | None = None
    failed_claims: list[dict[str, Any]] = field(default_factory=list)
    fit: dict[str, Any] | None = None
    # Errors the repaired outputs still show against the (patched) model.
    not_fitting: list[dict[str, Any]] = field(default_factory=list)
    # What the repair could not do or confirm, and why (Keras unavailable or dead).
    notes: list[str] = field(default_factory=list)


class ModelNotWritten(Exception):
    """Keras could not write the patched model (not installed, too old, its process died,
    or it refused): the data repairs stand, the model's findings remain."""


def _row_count(ref: ArrayRef) -> int:
    return ref.shape[0] if ref.shape else 1


def _nonfinite_rows(ref: ArrayRef) -> Array:
    bad = np.zeros(_row_count(ref), dtype=bool)
    if ref.kind not in "fc":
        return bad
    if ref.ragged:  # sequences (of feature vectors): a row is bad if any value is
        from kerasfix.loaders.ragged import iter_sequences

        for row0, sequences in iter_sequences(ref):
            for i, sequence in enumerate(sequences):
                bad[row0 + i] = not np.isfinite(sequence).all()
        return bad
    for row0, chunk in iter_chunks(ref):
        if chunk.ndim == 0:
            continue
        flat = chunk.reshape(chunk.shape[0], -1)
        bad[row0 : row0 + chunk.shape[0]] = ~np.isfinite(flat).all(axis=1)
    return bad


def resolve_rows(refs: list[ArrayRef], actions: list[Any]) -> tuple[Array, dict[str, int]]:
    """The rows every array of a group keeps: first truncate to the shortest, then drop
    non-finite rows, then drop what does not fill the last fixed-size batch."""
    rows = max(_row_count(r) for r in refs)
    keep = np.ones(rows, dtype=bool)
    lost: dict[str, int] = {}
    kinds = {a.action: a for a in actions}
    if "truncate_rows" in kinds:
        shortest = min(_row_count(r) for r in refs)
        keep[shortest:] = False
        lost["samples_truncated"] = rows - shortest
    if "drop_nonfinite_rows" in kinds:
        bad = np.zeros(rows, dtype=bool)
        for ref in refs:
            found = _nonfinite_rows(ref)
            bad[: len(found)] |= found
        lost["samples_nonfinite"] = int((bad & keep).sum())
        keep &= ~bad
    if "drop_remainder" in kinds:
        batch = int(kinds["drop_remainder"].params["batch_size"])
        kept = np.flatnonzero(keep)
        extra = len(kept) % batch
        if extra:
            keep[kept[-extra:]] = False
        lost["samples_remainder"] = extra
    return keep, lost


def _jobs(
    file: FilePlan, diagnosis: Diagnosis, keeps: dict[tuple[str, str | None], Array]
) -> dict[str | None, writers.ArrayJob]:
    data = diagnosis.files[file.path]
    jobs: dict[str | None, writers.ArrayJob] = {}
    keys = {a.key for a in file.actions} | {k for (p, k) in keeps if p == file.path}
    group_keep = next((keeps[(p, k)] for (p, k) in keeps if p == file.path), None)
    if group_keep is not None:
        # Other arrays of the file with one row per sample (ids, weights) lose the same rows.
        for other in data.arrays.values():
            if other.key not in keys and other.shape and other.shape[0] == len(group_keep):
                keys.add(other.key)
                keeps[(file.path, other.key)] = group_keep
    for key in keys:
        found = data.arrays.get(key or "")
        if found is None:
            continue
        ref = found
        steps = [
            (a.action, a.params)
            for a in file.actions
            if a.key == key and a.action not in ROW_ACTIONS
        ]
        # KF401 and KF402 plan the same pad_sequences: apply it once.
        seen: set[str] = set()
        unique = []
        for step, params in steps:
            if step == "pad_sequences" and step in seen:
                continue
            seen.add(step)
            unique.append((step, params))
        jobs[ref.key] = writers.ArrayJob(ref, unique, keeps.get((file.path, key)))
    return jobs


def _write_file(
    file: FilePlan, diagnosis: Diagnosis, keeps: dict[tuple[str, str | None], Array], out_dir: str
) -> dict[str, Any]:
    if file.format == "images":  # an image-class folder: file by file (repair/images.py)
        from kerasfix.repair.images import write_folder

        data = diagnosis.files[file.path]
        return write_folder(file.path, file.output, out_dir, data, file.actions)
    entry = _write(file, diagnosis, keeps, out_dir)
    entry["rows_kept_sha256"] = _rows_kept(file, keeps)
    entry["kerasfix_version"] = __version__
    dropped = {
        str(key): _row_count(diagnosis.files[path].arrays[key or ""])
        - int(keep[: _row_count(diagnosis.files[path].arrays[key or ""])].sum())
        for (path, key), keep in keeps.items()
        if path == file.path
    }
    if dropped:
        entry["rows_dropped"] = dropped
        for action in entry["actions"]:
            if action["action"] in ROW_ACTIONS:
                # What this file lost to all row actions together, not the finding's estimate.
                action["lost"] = {"samples_dropped": max(dropped.values())}
    return entry


def _write(
    file: FilePlan, diagnosis: Diagnosis, keeps: dict[tuple[str, str | None], Array], out_dir: str
) -> dict[str, Any]:
    jobs = _jobs(file, diagnosis, keeps)
    final = os.path.join(out_dir, file.output)
    sha_in = sha_out = None
    records: dict[str, int] | None = None
    with atomic_path(final) as tmp:
        if file.format == "npy":
            job = jobs[None]
            if writers.can_copy_header_only(job):
                sha_in, sha_out = writers.header_only_copy(file.path, tmp, job)
                file.header_only = True
            else:
                writers.write_npy(tmp, job)
        elif file.format == "npz":
            writers.write_npz(file.path, tmp, jobs)
        elif file.format == "h5":
            writers.write_h5(file.path, tmp, jobs)
        elif file.format in ("jsonl", "json"):
            keep = next(iter(keeps[(p, k)] for (p, k) in keeps if p == file.path), None)
            writers.write_json_records(file.path, tmp, jobs, keep)
        elif file.format == "tfrecord":  # rows are records: dropped record by record there
            from kerasfix.repair.tfrecord import write_shard

            compression = diagnosis.files[file.path].records.compression
            records = write_shard(file.path, tmp, jobs, file.actions, compression, file.skipped)
        else:  # pragma: no cover - discovery only yields the formats above
            raise ValueError(f"cannot write {file.format}")
        if sha_out is None:
            sha_out = sha256_file(tmp)
    entry = {
        "input": file.path,
        "output": file.output,
        "sha256_input": sha_in or sha256_file(file.path),
        "sha256_output": sha_out,
        "actions": [a.to_dict() for a in file.actions],
        "skipped": [a.to_dict() for a in file.skipped],
        "header_only": file.header_only,
    }
    if records is not None:  # a TFRecord shard: what became of its records
        entry["records"] = records
    return entry


def apply_plan(
    plan: RepairPlan,
    diagnosis: Diagnosis,
    model_path: str,
    options: DiagnoseOptions,
) -> RepairOutcome:
    keeps: dict[tuple[str, str | None], Array] = {}
    row_losses: list[dict[str, int]] = []
    for keys, actions in plan.row_groups:
        if all(diagnosis.files[p].format == "tfrecord" for p, _ in keys):
            row_losses.append({})  # a shard's rows are its records: its writer drops them
            continue
        refs = [diagnosis.files[p].arrays[k or ""] for p, k in keys]
        keep, lost = resolve_rows(refs, actions)
        row_losses.append(lost)
        for key in keys:
            keeps[key] = keep
    try:
        os.makedirs(plan.out_dir, exist_ok=True)
        done = _previous_entries(plan.out_dir)
        entries = []
        for file in plan.files:
            if not file.actions:
                continue
            entry = _resumable(file, done.get(file.output), plan.out_dir, _rows_kept(file, keeps))
            if entry is None:
                entry = _write_file(file, diagnosis, keeps, plan.out_dir)
                _journal(plan.out_dir, entry)
            else:
                file.kept = True
            entries.append(entry)
        carried = _carry(plan, _previous_carried(plan.out_dir))
        model_entry = None
        # What the diagnosis could not confirm (Keras unavailable, ...) stays said.
        notes = list(diagnosis.report.notes)
        if plan.model_actions:
            try:
                model_entry = _write_model(plan, model_path, options, diagnosis)
            except ModelNotWritten as exc:
                notes.append(f"{plan.model_output} was not written: {exc}")
    except OSError as exc:
        # Disk full, permissions, a read-only --out: the user's to fix; nothing half-written.
        raise WriteError(f"cannot write under {plan.out_dir}: {exc.strerror or exc}") from None
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "kerasfix_version": __version__,
        "model": model_path,
        "files": entries,
        "model_patch": model_entry,
        "rows": row_losses,
        "skipped": [a.to_dict() | {"path": f.path} for f in plan.files for a in f.skipped]
        + [a.to_dict() | {"path": p} for p, _, a in plan.model_skipped],
        "not_repaired": [
            {"path": p, "key": k, "code": f.code, "name": f.name} for p, k, f in plan.unfixable
        ],
        # The unchanged DATA files put beside the repaired ones (repair/carry.py).
        "carried": carried,
    }
    if notes:
        manifest["notes"] = notes
    outcome = RepairOutcome(plan, manifest, notes=notes)
    checked_model = os.path.join(plan.out_dir, plan.model_output) if model_entry else model_path
    outcome.verification, outcome.failed_claims = verify(plan, checked_model, options)
    if model_entry is not None and model_entry["check"].get("same_outputs") is False:
        # The weights did not carry over: the patched model is not the user's model.
        outcome.failed_claims.append({"path": plan.model_output, "key": None, "code": "outputs"})
    if model_entry is not None and not model_entry["check"].get("trains", True):
        # An architecture edit Keras could not confirm end to end is not a repair.
        outcome.failed_claims.append({"path": plan.model_output, "key": None, "code": "KF601"})
    # Findings the written data still has (codes no action claimed, or that the repair
    # brought): data that still does not fit the model is no successful repair.
    outcome.not_fitting = [
        {"path": r.path, "key": r.key, "code": f.code, "name": f.name, "what": f.what}
        for r in (outcome.verification.results if outcome.verification is not None else [])
        if r.role != "model"
        for f in r.findings
        if f.severity >= Severity.ERROR
    ]
    manifest["verification"] = {
        "status": "fail" if outcome.failed_claims else "pass",
        "model": checked_model,
        "still_present": outcome.failed_claims,
        "fits_model": not outcome.not_fitting,
        "not_fitting": outcome.not_fitting,
    }
    write_manifest(plan.out_dir, manifest)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(plan.out_dir, JOURNAL))
    return outcome


def _carry(plan: RepairPlan, before: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every unchanged DATA file of the run into DIR (hard links, or copies across
    filesystems); what is already right there is kept. Each entry is journaled as it lands."""
    from kerasfix.repair.carry import carry_file, carry_folder

    entries = []
    for item in plan.carried:
        try:
            if item.folder:
                entry = carry_folder(item, plan.out_dir)
            else:
                entry = carry_file(item, plan.out_dir, before.get(item.output))
        except DataReadError as exc:  # the input became a link or a device since diagnose
            entry = {"input": item.path, "output": item.output, "not_carried": exc.reason}
        if not entry.get("kept"):
            _journal(plan.out_dir, {**entry, "carried": True})
        entries.append(entry)
    return entries


def _previous_carried(out_dir: str) -> dict[str, dict[str, Any]]:
    """Per output, the carried entries of an earlier run into DIR (manifest, then journal)."""
    entries: dict[str, dict[str, Any]] = {}
    errors = (OSError, ValueError, TypeError, KeyError, AttributeError)
    with contextlib.suppress(*errors), open(os.path.join(out_dir, MANIFEST)) as fh:
        for entry in json.load(fh).get("carried", []):
            entries[str(entry["output"])] = entry
    with contextlib.suppress(OSError), open(os.path.join(out_dir, JOURNAL)) as fh:
        for line in fh:
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                entry = json.loads(line)
                if entry.get("carried"):
                    entries[str(entry["output"])] = entry
    return entries


def _previous_entries(out_dir: str) -> dict[str, dict[str, Any]]:
    """Per output, what an earlier run into DIR wrote: its manifest, then its journal (a run
    that was interrupted before writing the manifest). Unreadable leftovers count as nothing."""
    entries: dict[str, dict[str, Any]] = {}
    try:
        with open(os.path.join(out_dir, MANIFEST)) as fh:
            manifest = json.load(fh)
        for entry in manifest.get("files", []):
            entries[str(entry["output"])] = entry
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    try:
        with open(os.path.join(out_dir, JOURNAL)) as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                    if not entry.get("carried"):  # an unchanged file put beside: _carry's
                        entries[str(entry["output"])] = entry
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue  # the torn last line of a killed run
    except OSError:
        pass
    return entries


def _rows_kept(file: FilePlan, keeps: dict[tuple[str, str | None], Array]) -> str | None:
    """A fingerprint of the rows this file keeps: they depend on its row group's other files
    too (a NaN in y.npy drops that row of x.npy), which the file's own hashes do not show."""
    # By distinct mask, not by key: writing adds the file's other per-sample arrays under the
    # same mask, and the fingerprint must read the same before and after.
    masks = sorted(
        {
            np.packbits(keep).tobytes() + len(keep).to_bytes(8, "little")
            for (p, _), keep in keeps.items()
            if p == file.path
        }
    )
    if not masks:
        return None
    digest = hashlib.sha256()
    for mask in masks:
        digest.update(mask)
    return digest.hexdigest()


def _resumable(
    file: FilePlan, entry: dict[str, Any] | None, out_dir: str, rows_kept: str | None
) -> dict[str, Any] | None:
    """The earlier entry, when the output it describes is still there, byte for byte, and
    came from this very input by these very actions, keeping the same rows, written by this
    kerasfix version: then the file need not be written again."""
    if entry is None or entry.get("input") != file.path:
        return None
    if entry.get("actions") != [a.to_dict() for a in file.actions]:
        return None
    if entry.get("rows_kept_sha256") != rows_kept or entry.get("kerasfix_version") != __version__:
        return None
    final = os.path.join(out_dir, file.output)
    try:
        if sha256_file(final) != entry.get("sha256_output"):
            return None
        if sha256_file(file.path) != entry.get("sha256_input"):
            return None
    except OSError:
        return None
    file.header_only = bool(entry.get("header_only", False))
    return {**entry, "resumed": True}


def _journal(out_dir: str, entry: dict[str, Any]) -> None:
    with open(os.path.join(out_dir, JOURNAL), "a") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _write_model(
    plan: RepairPlan, model_path: str, options: DiagnoseOptions, diagnosis: Diagnosis
) -> dict[str, Any]:
    """DIR/model.keras: the saved architecture with the patches and the original weights,
    checked by loading it fresh with Keras."""
    from kerasfix.model import trace
    from kerasfix.model.keras_child import KerasError, KerasUnavailable, shared_child

    actions = [a for _, _, a in plan.model_actions]
    if any(a.action == "edit_architecture" for a in actions):
        return _write_edited(plan, model_path, actions, options, diagnosis)
    inputs = {
        a.params["input"]: tuple(a.params["batch_shape"])
        for a in actions
        if a.action == "patch_input"
    }
    losses = {a.params["output"]: a.params["loss"] for a in actions if a.action == "patch_loss"}
    grown: dict[str, int] = {}
    for action in actions:
        if action.action == "grow_embedding":
            layer = action.params["layer"]
            grown[layer] = max(grown.get(layer, 0), int(action.params["input_dim"]))
    final = os.path.join(plan.out_dir, plan.model_output)
    with atomic_path(final, suffix=".keras") as tmp:
        try:
            # In the run's Keras child; it keeps the directory it started in: paths go absolute.
            check = shared_child().call(
                trace.write_patched_model,
                os.path.abspath(model_path),
                os.path.abspath(tmp),
                inputs,
                losses,
                options.trust_model,
                grown,
            )
        except KerasUnavailable as exc:
            raise ModelNotWritten(f"Keras could not confirm the patch: {exc.reason}") from None
        except KerasError as exc:
            raise ModelNotWritten(f"Keras could not write the patched model ({exc})") from None
        sha_out = sha256_file(tmp)
    return _model_entry(plan, model_path, sha_out, actions, check)


def _write_edited(
    plan: RepairPlan,
    model_path: str,
    actions: list[Any],
    options: DiagnoseOptions,
    diagnosis: Diagnosis,
) -> dict[str, Any]:
    """DIR/model.json or DIR/model.keras with the KF601 edits, written and checked by Keras in
    the run's Keras child: it builds, maps a batch of the data, trains one step."""
    from kerasfix.model.keras_child import KerasError, KerasUnavailable, shared_child
    from kerasfix.model.rebuild import write_edited_model
    from kerasfix.repair.fit import data_batch

    edits = list({json.dumps(a.params, sort_keys=True): a.params for a in actions}.values())
    batch_x, batch_y = data_batch(diagnosis, plan)
    final = os.path.join(plan.out_dir, plan.model_output)
    suffix = os.path.splitext(plan.model_output)[1]
    with atomic_path(final, suffix=suffix) as tmp:
        try:
            # The child keeps the directory it started in: every path goes absolute.
            check = shared_child().call(
                write_edited_model,
                os.path.abspath(model_path),
                edits,
                os.path.abspath(tmp),
                batch_x,
                batch_y,
                options.trust_model,
            )
        except KerasUnavailable as exc:
            raise ModelNotWritten(f"Keras could not confirm the edit: {exc.reason}") from None
        except KerasError as exc:
            raise ModelNotWritten(f"Keras could not write the edited model ({exc})") from None
        if not check.get("builds"):  # nothing worth keeping was written
            raise WriteError(f"the edited model does not build: {check.get('error')}")
        sha_out = sha256_file(tmp)
    check["same_outputs"] = None  # the edit changes what it computes: nothing to compare
    return _model_entry(plan, model_path, sha_out, actions, check)


def _model_entry(
    plan: RepairPlan, model_path: str, sha_out: str, actions: list[Any], check: dict[str, Any]
) -> dict[str, Any]:
    """The manifest's record of the written model."""
    return {
        "input": model_path,
        "output": plan.model_output,
        "sha256_input": sha256_file(model_path),
        "sha256_output": sha_out,
        "actions": [a.to_dict() for a in actions],
        "check": check,
    }


def verify(
    plan: RepairPlan, model_path: str, options: DiagnoseOptions
) -> tuple[Report | None, list[dict[str, Any]]]:
    """Diagnose what was repaired (written files, and the inputs a model patch fixed) against
    the model as repaired; every code an applied action claimed to fix must be gone."""
    written = {os.path.join(plan.out_dir, f.output): f for f in plan.files if f.actions}
    by_input = {os.path.realpath(f.path): out for out, f in written.items()}
    claimed: dict[str, set[tuple[str | None, str]]] = {}
    for out, file in written.items():
        claimed.setdefault(out, set()).update((a.key, a.code) for a in file.actions)
    for path, key, action in plan.model_actions:
        if key is None and path == plan.model_path:
            continue  # a finding of the model itself: checked below
        target = by_input.get(os.path.realpath(path), path)
        claimed.setdefault(target, set()).add((key, action.code))
    if not claimed and not plan.model_actions:
        return None, []
    y_file = None
    if options.y_file is not None:
        y_file = by_input.get(os.path.realpath(options.y_file), options.y_file)
    same_bytes = frozenset(os.path.realpath(o) for o, f in written.items() if f.header_only)
    # The outputs are named one by one: --glob/--exclude chose the inputs, not these.
    # Outputs are read here, where they were written: not on a --scheduler cluster, whose
    # workers may not see --out.
    check = dataclasses.replace(
        options, y_file=y_file, values_known=same_bytes, globs=(), excludes=(), scheduler=None
    )
    data = [p for p in claimed if y_file is None or os.path.realpath(p) != os.path.realpath(y_file)]
    report = run_diagnosis(model_path, data, check).report
    failed: list[dict[str, Any]] = []
    model_codes = {a.code for p, k, a in plan.model_actions if k is None and p == plan.model_path}
    for result in report.results:
        if result.role == "model":
            failed.extend(
                {"path": model_path, "key": None, "code": f.code}
                for f in result.findings
                if f.code in model_codes
            )
            continue
        for path, codes in claimed.items():
            if os.path.realpath(result.path) != os.path.realpath(path):
                continue
            for finding in result.findings:
                if (result.key, finding.code) in codes or (None, finding.code) in codes:
                    failed.append({"path": path, "key": result.key, "code": finding.code})
    return report, failed


def write_manifest(out_dir: str, manifest: dict[str, Any]) -> None:
    try:
        with atomic_path(os.path.join(out_dir, MANIFEST)) as tmp, open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.write("\n")
    except OSError as exc:  # disk full at the last write is still the user's to fix (exit 2)
        raise WriteError(f"cannot write under {out_dir}: {exc.strerror or exc}") from None


__all__ = ["MANIFEST", "RepairOutcome", "ScanPlan", "apply_plan", "resolve_rows", "scan"]
