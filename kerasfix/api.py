"""The library behind the CLI: it never prints and never exits."""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kerasfix.checks import CHECKS, RULES, GroupContext, InputContext, ModelContext, kf2_values
from kerasfix.checks.catalog import known_token
from kerasfix.checks.kf0_read import NoMatchingArray, UnreadableData
from kerasfix.errors import NoDataReadError, UsageError
from kerasfix.findings import Applicability, FileResult, Finding, Report, Shape
from kerasfix.loaders import FORMATS, ArrayRef, DataFile, discover, read_data_file
from kerasfix.loaders.keys import Group, KeyOptions, is_label_stem, label_sibling, map_arrays
from kerasfix.model import InputSpec, ModelContract, OutputSpec, load_contract
from kerasfix.model.contract import format_shape
from kerasfix.options import DiagnoseOptions
from kerasfix.stats import scan

if TYPE_CHECKING:
    from kerasfix.repair.apply import RepairOutcome
    from kerasfix.repair.plan import RepairOptions, RepairPlan


def inspect_model(model_path: str) -> ModelContract:
    """The model's data contract (raises ModelReadError for anything that is not a model)."""
    return load_contract(model_path)


def validate_codes(tokens: Iterable[str]) -> None:
    for token in tokens:
        if not known_token(token):
            raise UsageError(f"--select/--ignore: {token!r} names no rule (see `kerasfix rules`)")


def _selected(finding: Finding, options: DiagnoseOptions) -> bool:
    rule = RULES[finding.code]
    if options.select and not any(rule.matches(t) for t in options.select):
        return False
    return not any(rule.matches(t) for t in options.ignore)


@dataclass
class Diagnosis:
    """A report plus what repair needs to act on it: the groups of arrays and their files."""

    contract: ModelContract
    report: Report
    groups: list[Group] = field(default_factory=list)
    files: dict[str, DataFile] = field(default_factory=dict)

    def result(self, path: str, key: str | None) -> FileResult | None:
        return next(
            (
                r
                for r in self.report.results
                if r.path == path and r.key == key and r.role != "file"
            ),
            None,
        )


def diagnose(model_path: str, data_paths: list[str], options: DiagnoseOptions) -> Report:
    """Check every DATA file against MODEL's contract; bad files become KF001 results."""
    return run_diagnosis(model_path, data_paths, options).report


def run_diagnosis(model_path: str, data_paths: list[str], options: DiagnoseOptions) -> Diagnosis:
    validate_codes((*options.select, *options.ignore))
    contract = load_contract(model_path)
    results: list[FileResult] = []
    diagnosis = Diagnosis(contract, Report(model_path, {}, [], 0, 0))

    model_result = FileResult(path=model_path, role="model")
    for check in CHECKS:
        if check.scope == "model":
            model_result.findings.extend(check.run(ModelContext(contract, options)))
    results.append(model_result)

    label_file = _read_label_file(options)
    paths = list(discover(data_paths))
    consumed = {os.path.realpath(options.y_file)} if options.y_file else set()
    siblings: dict[str, str] = {}
    if label_file is None:
        for path in paths:
            sibling = label_sibling(path) if path.lower().endswith(".npy") else None
            if sibling is not None:
                siblings[path] = sibling
                consumed.add(os.path.realpath(sibling))
    files = 0
    readable = 0
    unreadable_reasons: list[tuple[str, str]] = []
    for path in paths:
        if os.path.realpath(path) in consumed:
            continue
        file = read_data_file(path, options.allow_pickle, _table_label(options))
        files += 1
        if file.error is not None:
            unreadable_reasons.append((path, file.error))
            results.append(
                FileResult(path=path, role="file", findings=[UnreadableData.for_reason(file.error)])
            )
            continue
        readable += 1
        diagnosis.files[path] = file
        labels = label_file
        if path in siblings:
            labels = read_data_file(siblings[path], options.allow_pickle)
            if labels.error is not None:
                results.append(
                    FileResult(
                        path=siblings[path],
                        role="file",
                        findings=[UnreadableData.for_reason(labels.error)],
                    )
                )
        if labels is not None and labels.error is None:
            diagnosis.files[labels.path] = labels
        results.extend(_check_file(contract, options, file, labels, diagnosis.groups))

    if data_paths and not files:
        raise NoDataReadError(
            "no DATA found: "
            + ", ".join(data_paths)
            + " holds no data file ("
            + ", ".join(sorted(FORMATS))
            + ")"
        )
    if data_paths and files and not readable:
        raise NoDataReadError(
            "no DATA could be read: "
            + "; ".join(f"{path}: {reason}" for path, reason in unreadable_reasons)
        )
    results = _merge(results)
    for result in results:
        result.findings = [f for f in result.findings if _selected(f, options)]
    results = [r for r in results if r.role != "model" or r.findings]
    report = Report(
        model_path=model_path,
        model=contract.to_dict(),
        results=results,
        # Every data file the run looked at: x files, their label siblings, --y-file.
        files=len({r.path for r in results if r.role != "model"}),
        readable_files=readable,
    )
    report.sort()
    diagnosis.report = report
    return diagnosis


def _merge(results: list[FileResult]) -> list[FileResult]:
    """One result per array: a --y-file shared by several x files is reported once."""
    merged: dict[tuple[str, str | None, str], FileResult] = {}
    for result in results:
        key = (result.path, result.key, result.role)
        if key in merged:
            seen = merged[key]
            seen.findings.extend(f for f in result.findings if f not in seen.findings)
        else:
            merged[key] = result
    return list(merged.values())


def _table_label(options: DiagnoseOptions) -> str | None:
    """`--y COLUMN` for tables: the one unnamed --y key."""
    return next((key for name, key in options.keys.y if name is None), None)


def _read_label_file(options: DiagnoseOptions) -> DataFile | None:
    if options.y_file is None:
        return None
    labels = read_data_file(options.y_file, options.allow_pickle)
    if labels.error is not None:
        raise UsageError(f"--y-file {options.y_file}: {labels.error}")
    return labels


def _check_file(
    contract: ModelContract,
    options: DiagnoseOptions,
    file: DataFile,
    labels: DataFile | None,
    groups: list[Group],
) -> list[FileResult]:
    # A table's arrays are x and y by construction; --y named its label column.
    key_options = KeyOptions(x=options.keys.x) if file.format == "csv" else options.keys
    group = map_arrays(file, contract, key_options)
    if labels is not None and labels.error is None and not group.y:
        label_group = map_arrays(labels, contract, options.keys)
        group.y = label_group.y or _single_label(labels, contract)
    results: list[FileResult] = []
    label_file = file.format == "npy" and is_label_stem(file.path) and not options.keys.x
    if label_file and len(contract.outputs) == 1:
        # A lone y.npy: labels, not an input.
        ref = next(iter(file.arrays.values()))
        group = Group(path=file.path, y={contract.outputs[0].name: ref})
    if not group.x and not group.y:
        keys = ", ".join(repr(k) for k in sorted(file.arrays)) or "none"
        wanted = ", ".join(repr(i.name) for i in contract.inputs)
        results.append(
            FileResult(
                path=file.path,
                role="file",
                findings=[
                    NoMatchingArray.finding(
                        what=f"no array maps to the model's inputs ({wanted}); "
                        f"the file holds {keys}",
                        why="kerasfix cannot tell which array is the input and which the labels",
                        fix="name them: --x KEY (or --x input_name=KEY) and --y KEY",
                        expected=[i.name for i in contract.inputs],
                        received=sorted(file.arrays),
                    )
                ],
            )
        )
        return results
    groups.append(group)
    by_key: dict[tuple[str, str | None], FileResult] = {}
    for name, ref in group.x.items():
        inp = contract.input_named(name)
        result = FileResult(
            path=ref.path, key=ref.key, role="x", input=name, shape=ref.shape, dtype=ref.dtype
        )
        if inp is not None:
            for check in CHECKS if not ref.ragged else ():
                if check.scope == "input":
                    result.findings.extend(check.run(InputContext(contract, options, ref, inp)))
            _check_values(contract, options, result, ref, "input_values", input=inp)
            result.findings = [
                _with_model_patch(contract, options, inp, f) for f in result.findings
            ]
        by_key[(ref.path, ref.key)] = result
    for name, ref in group.y.items():
        if (ref.path, ref.key) in by_key:
            continue
        result = FileResult(
            path=ref.path, key=ref.key, role="y", output=name, shape=ref.shape, dtype=ref.dtype
        )
        out = next((o for o in contract.outputs if o.name == name), None)
        if out is not None:
            _check_values(contract, options, result, ref, "label_values", output=out)
        by_key[(ref.path, ref.key)] = result
    if group.sample_weight is not None:
        ref = group.sample_weight
        by_key.setdefault(
            (ref.path, ref.key),
            FileResult(
                path=ref.path, key=ref.key, role="sample_weight", shape=ref.shape, dtype=ref.dtype
            ),
        )
    anchor = next(iter(by_key.values()))
    for check in CHECKS:
        if check.scope == "group":
            anchor.findings.extend(check.run(GroupContext(contract, options, group)))
    results.extend(by_key.values())
    missing = [i.name for i in contract.inputs if i.name not in group.x]
    if missing and not label_file:
        anchor.findings.append(
            NoMatchingArray.finding(
                what=f"no array feeds input(s) {', '.join(map(repr, missing))}; the file holds "
                + ", ".join(repr(k) for k in sorted(file.arrays)),
                why="training needs an array for every model input",
                fix="name them: --x KEY, or --x input_name=KEY for each input",
                expected=[i.name for i in contract.inputs],
                received=sorted(file.arrays),
            )
        )
    return results


def _check_values(
    contract: ModelContract,
    options: DiagnoseOptions,
    result: FileResult,
    ref: ArrayRef,
    scope: str,
    input: InputSpec | None = None,
    output: OutputSpec | None = None,
) -> None:
    """One streaming pass over the array, then every value rule over its statistics."""
    if input is not None:
        plan = kf2_values.plan_for_input(input, ref, options)
    else:
        assert output is not None
        plan = kf2_values.plan_for_output(output, ref)
    stats = None
    if plan is not None and os.path.realpath(ref.path) not in options.values_known:
        try:
            stats = scan(ref, plan)
        except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error) as exc:
            text = str(exc).strip().splitlines()
            reason = f"reading the values failed: {text[0] if text else type(exc).__name__}"
            result.findings.append(UnreadableData.for_reason(reason))
            return
    ctx = kf2_values.ValueContext(contract, options, ref, stats, input, output)
    for check in CHECKS:
        if check.scope == scope:
            result.findings.extend(check.run(ctx))


PATCHABLE_INPUT_CODES = frozenset({"KF105", "KF106", "KF402"})


def _input_candidates(inp: InputSpec, finding: Finding) -> tuple[Shape, ...]:
    """The batch_shapes to try: the mismatched axes left open (None), then set to the data's."""
    if finding.code == "KF402":
        axes, sizes = [1], [finding.received]
    elif finding.code == "KF105":
        axes, sizes = [int(finding.details["axis"])], [int(finding.details["length"])]
    else:
        axes = [int(a) for a in finding.details["axes"]]
        sizes = [finding.received[a] for a in axes]
    open_shape = list(inp.batch_shape)
    data_shape = list(inp.batch_shape)
    for axis, size in zip(axes, sizes, strict=True):
        open_shape[axis] = None
        data_shape[axis] = size
    return (tuple(open_shape), tuple(data_shape))


def _with_model_patch(
    contract: ModelContract, options: DiagnoseOptions, inp: InputSpec, finding: Finding
) -> Finding:
    """For a length or size mismatch, ask Keras whether the model's input can take the data
    instead (no weight depends on that axis), and say which fix is which."""
    if (
        finding.code not in PATCHABLE_INPUT_CODES
        or not options.trace_model
        or contract.format == "savedmodel"
        or (contract.unsafe_layers and not options.trust_model)
    ):
        return finding
    from kerasfix.model import trace

    try:
        verdict = trace.input_patch(contract.path, inp.name, _input_candidates(inp, finding))
    except Exception as exc:  # Keras could not rebuild the model: keep the data fixes only
        text = str(exc).strip().splitlines()
        verdict = trace.Verdict(False, inp.batch_shape, text[0] if text else type(exc).__name__)
    patch = {
        "patchable": verdict.patchable,
        "batch_shape": list(verdict.batch_shape),
        "reason": verdict.reason,
        "layer": verdict.layer,
        "input": inp.name,
    }
    if verdict.patchable:
        fix = (
            f"{finding.fix}; or patch the model's input to batch_shape="
            f"{format_shape(verdict.batch_shape)}: {verdict.reason} (kerasfix repair "
            "--prefer model) [safe]"
        )
        applicability = Applicability.SAFE
    else:
        fix = f"{finding.fix}; the model's input cannot be patched: {verdict.reason}"
        applicability = finding.applicability
    details = {**finding.details, "model_patch": patch}
    patched: Finding = dataclasses.replace(
        finding, fix=fix, applicability=applicability, details=details
    )
    return patched


def _single_label(labels: DataFile, contract: ModelContract) -> dict[str, ArrayRef]:
    if len(labels.arrays) == 1 and len(contract.outputs) == 1:
        return {contract.outputs[0].name: next(iter(labels.arrays.values()))}
    return {}


def plan_repair(
    model_path: str,
    data_paths: list[str],
    out_dir: str,
    options: DiagnoseOptions,
    repair_options: RepairOptions,
) -> tuple[Diagnosis, RepairPlan]:
    """Diagnose, then plan the repairs as data: nothing is written."""
    from kerasfix.repair import plan as planning

    diagnosis = run_diagnosis(model_path, data_paths, options)
    inputs = [*diagnosis.files, *([options.y_file] if options.y_file else [])]
    planning.check_out_dir(out_dir, data_paths, inputs)
    if repair_options.verify_fit and diagnosis.contract.unsafe_layers and not options.trust_model:
        layer = diagnosis.contract.unsafe_layers[0]
        raise UsageError(
            f"{model_path}: --verify-fit would run code the model holds ('{layer.name}', "
            f"{layer.class_name}); pass --trust-model if you trust it"
        )
    plan = planning.plan_repair(diagnosis, data_paths, out_dir, repair_options, options)
    planning.check_outputs(plan, inputs)
    return diagnosis, plan


def apply_repair(
    model_path: str,
    diagnosis: Diagnosis,
    plan: RepairPlan,
    options: DiagnoseOptions,
    repair_options: RepairOptions,
) -> RepairOutcome:
    """Write the plan's outputs atomically, the manifest, and check them (and train one step
    with --verify-fit)."""
    from kerasfix.repair import apply, fit
    from kerasfix.repair.lock import out_dir_lock

    with out_dir_lock(plan.out_dir):  # a second repair into DIR meanwhile exits 2
        outcome = apply.apply_plan(plan, diagnosis, model_path, options)
        if repair_options.verify_fit and not outcome.failed_claims:
            trained = outcome.manifest["verification"]["model"]  # the patched model, if any
            outcome.fit = fit.verify_fit(trained, diagnosis, plan, options.trust_model)
            outcome.manifest["verify_fit"] = outcome.fit
            apply.write_manifest(plan.out_dir, outcome.manifest)
    return outcome
