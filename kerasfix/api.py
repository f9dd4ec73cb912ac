"""The library behind the CLI: it never prints and never exits."""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kerasfix.checks import CHECKS, RULES, GroupContext, InputContext, ModelContext, kf2_values
from kerasfix.checks.catalog import known_token
from kerasfix.checks.kf0_read import NoMatchingArray, UnreadableData
from kerasfix.checks.kf5_datasets import DatasetContext, for_image_folder, model_image_loading
from kerasfix.checks.tables import for_table
from kerasfix.errors import NoDataReadError, UsageError
from kerasfix.findings import FileResult, Finding, Report
from kerasfix.loaders import FORMATS, ArrayRef, DataFile, discover, read_data_file
from kerasfix.loaders.keys import (
    Group,
    KeyOptions,
    is_label_stem,
    label_rows,
    label_sibling,
    map_arrays,
)
from kerasfix.loaders.tfrecord import SurveyPlan
from kerasfix.model import InputSpec, ModelContract, OutputSpec, load_contract
from kerasfix.model.architecture import BuildOutcome
from kerasfix.model.keras_child import shared_child
from kerasfix.model.verdicts import ArchitectureCheck, InputPatchCheck
from kerasfix.options import DiagnoseOptions
from kerasfix.stats import ScanPlan, scan

if TYPE_CHECKING:
    from kerasfix.repair.apply import RepairOutcome
    from kerasfix.repair.plan import RepairOptions, RepairPlan


def inspect_model(model_path: str) -> ModelContract:
    """The model's data contract (raises ModelReadError for anything that is not a model)."""
    return load_contract(model_path)


def inspect_layers(
    contract: ModelContract, options: DiagnoseOptions
) -> tuple[BuildOutcome | None, str | None]:
    """Every layer's input and output shapes as Keras builds the model (in the Keras child),
    or why they cannot be shown."""
    return ArchitectureCheck(contract, options, shared_child()).layer_shapes()


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
    # Ctrl-C ended the run early: the report holds the files finished by then.
    interrupted: bool = False
    total_files: int = 0  # DATA files the run set out to check (label siblings not counted)
    finished_files: int = 0
    # Every DATA file of the run, each followed by its label sibling (repair carries them).
    data_files: list[str] = field(default_factory=list)

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


class RunObserver(Protocol):
    """What a run tells its caller as it goes (the CLI streams jsonl and draws progress)."""

    def started(self, total: int, model_result: FileResult | None, whole_run: bool) -> None:
        """`total` DATA files will be checked; the model's own findings, if any. `whole_run`:
        findings will still be added to finished files when the run ends (KF501-KF503)."""

    def file_done(self, path: str, results: list[FileResult]) -> None:
        """One DATA file (with its label sibling) is done; called in completion order."""


class _Quiet:
    def started(self, total: int, model_result: FileResult | None, whole_run: bool) -> None:
        pass

    def file_done(self, path: str, results: list[FileResult]) -> None:
        pass


@dataclass(frozen=True)
class FileJob:
    """One unit of work: a DATA file and the label sibling read with it (x.npy's y.npy)."""

    path: str
    labels: str | None = None


@dataclass(frozen=True)
class RunContext:
    """What every worker needs, read once in the parent: the model's contract, the options
    and a --y-file's header."""

    contract: ModelContract
    options: DiagnoseOptions
    label_file: DataFile | None
    # Repair needs each file's arrays and groups back from the workers; diagnose does not,
    # and on a folder of thousands of files shipping them costs real time.
    keep_files: bool = True


@dataclass
class FileOutcome:
    job: FileJob
    results: list[FileResult]
    files: dict[str, DataFile] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)
    error: str | None = None  # why the DATA file could not be read (its KF001)
    # A TFRecord shard's per-feature summary (merged across the run into Report.features).
    features: dict[str, Any] = field(default_factory=dict)


def diagnose_file(context: RunContext, job: FileJob) -> FileOutcome:
    """Everything diagnose does for one DATA file; runs in a worker process on folder runs."""
    options = context.options
    # An image folder is read as the model takes it where --image-size/--color-mode are not
    # given (and said so in a note); other formats ignore this.
    loading, image_note = model_image_loading(context.contract, options)
    file = read_data_file(
        job.path,
        options.allow_pickle,
        _table_label(options),
        options.image_size,
        options.color_mode,
        loading,
        survey_plan=_survey_plan(context.contract, options),
        compression=options.compression,
    )
    if file.error is not None:
        return unreadable_file(job, file.error)
    outcome = FileOutcome(job, [], {file.path: file})
    if file.records is not None:  # a TFRecord shard: its features are the arrays
        from kerasfix.records import check_shard

        outcome.results, outcome.features = check_shard(
            context.contract, options, file, outcome.groups, _check_values
        )
        if not context.keep_files:
            outcome.files, outcome.groups = {}, []
        return outcome
    labels = context.label_file
    if job.labels is not None:
        labels = read_data_file(job.labels, options.allow_pickle)
        if labels.error is not None:
            outcome.results.append(
                FileResult(
                    path=job.labels,
                    role="file",
                    findings=[UnreadableData.for_reason(labels.error)],
                )
            )
    if labels is not None and labels.error is None:
        outcome.files[labels.path] = labels
    outcome.results.extend(_check_file(context.contract, options, file, labels, outcome.groups))
    if file.survey is not None and image_note is not None:
        for result in outcome.results:
            if result.path == file.path and result.role == "x":
                result.notes.append(image_note)
    if not context.keep_files:
        outcome.files, outcome.groups = {}, []
    return outcome


def unreadable_file(job: FileJob, reason: str) -> FileOutcome:
    """A DATA file that could not be read, or whose worker crashed or timed out: KF001."""
    finding = UnreadableData.for_reason(reason)
    return FileOutcome(
        job, [FileResult(path=job.path, role="file", findings=[finding])], error=reason
    )


def _plan_jobs(data_paths: list[str], options: DiagnoseOptions) -> list[FileJob]:
    """Every DATA file once, in sorted folder order, paired with its label sibling; a file
    that is some other file's labels (or the --y-file) is not a job of its own."""
    paths = list(discover(data_paths, options.globs, options.excludes))
    consumed = {os.path.realpath(options.y_file)} if options.y_file else set()
    siblings: dict[str, str] = {}
    if options.y_file is None:
        for path in paths:
            sibling = label_sibling(path) if path.lower().endswith(".npy") else None
            if sibling is not None:
                siblings[path] = sibling
                consumed.add(os.path.realpath(sibling))
    return [
        FileJob(path, siblings.get(path))
        for path in paths
        if os.path.realpath(path) not in consumed
    ]


def _run_jobs(context: RunContext, jobs: list[FileJob]) -> Iterator[FileOutcome]:
    """In this process for a single file; otherwise in isolated workers, or on a cluster."""
    options = context.options
    if options.scheduler is not None:
        yield from _run_on_cluster(options.scheduler, context, jobs)
    elif (
        len(jobs) == 1
        and options.file_timeout is None
        # HDF5 is C: a damaged file can crash or hang it, so it is read where it can be killed.
        and not jobs[0].path.lower().endswith((".h5", ".hdf5"))
    ):
        yield diagnose_file(context, jobs[0])
    else:
        from kerasfix.workers import default_jobs, run_local

        yield from run_local(
            diagnose_file,
            context,
            jobs,
            options.jobs or default_jobs(),
            options.file_timeout,
            unreadable_file,
        )


# A worker's reason for a file it cannot find, and what it means on a cluster.
_NOT_FOUND = "no such file or folder"
_VISIBLE = "DATA must be visible to the workers at the same path"


def _run_on_cluster(
    address: str, context: RunContext, jobs: list[FileJob]
) -> Iterator[FileOutcome]:
    """The jobs on a Dask cluster. Paths leave this process absolute (a worker started in
    another directory resolves a relative one against its own), and the outcomes come back
    with the paths as the user gave them, so the report is a local run's."""
    from kerasfix.cluster import run_dask

    given: dict[str, str] = {}

    def absolute(path: str) -> str:
        resolved = os.path.abspath(path)
        given[resolved] = path
        return resolved

    remote = [FileJob(absolute(j.path), j.labels and absolute(j.labels)) for j in jobs]
    label_file = context.label_file
    if label_file is not None:
        label_file = _with_paths(label_file, absolute(label_file.path))
    context = dataclasses.replace(context, label_file=label_file)
    visible = [remote[0].path] if remote else []
    for outcome in run_dask(
        address,
        diagnose_file,
        context,
        remote,
        context.options.file_timeout,
        unreadable_file,
        visible,
    ):
        yield _as_given(outcome, given)


def _with_paths(file: DataFile, path: str) -> DataFile:
    """`file` (and its arrays, its image survey) read from `path` instead."""
    survey = file.survey
    if survey is not None and survey.root == file.path:
        survey = dataclasses.replace(survey, root=path)
    arrays = {
        key: dataclasses.replace(ref, path=path) if ref.path == file.path else ref
        for key, ref in file.arrays.items()
    }
    return dataclasses.replace(file, path=path, arrays=arrays, survey=survey)


def _as_given(outcome: FileOutcome, given: dict[str, str]) -> FileOutcome:
    """A cluster's outcome with the paths the user gave, as a local run reports them."""
    job = FileJob(given[outcome.job.path], outcome.job.labels and given[outcome.job.labels])
    if outcome.error is not None:
        reason = outcome.error
        if reason == _NOT_FOUND:
            reason = f"{_NOT_FOUND} on the cluster's worker ({_VISIBLE})"
        return unreadable_file(job, reason.replace(outcome.job.path, job.path))

    def path(value: str) -> str:
        return given.get(value, value)

    def ref(array: ArrayRef) -> ArrayRef:
        return dataclasses.replace(array, path=path(array.path))

    for result in outcome.results:
        result.path = path(result.path)
    files = {path(k): _with_paths(f, path(f.path)) for k, f in outcome.files.items()}
    for group in outcome.groups:
        group.path = path(group.path)
        group.x = {name: ref(a) for name, a in group.x.items()}
        group.y = {name: ref(a) for name, a in group.y.items()}
        if group.sample_weight is not None:
            group.sample_weight = ref(group.sample_weight)
    return FileOutcome(job, outcome.results, files, outcome.groups, features=outcome.features)


def _some(items: list[str], shown: int = 3) -> str:
    """A list a line can hold: the first few, and how many more."""
    if len(items) <= shown + 1:
        return "; ".join(items)
    return "; ".join(items[:shown]) + f"; and {len(items) - shown} more"


def run_diagnosis(
    model_path: str,
    data_paths: list[str],
    options: DiagnoseOptions,
    observer: RunObserver | None = None,
    keep_partial: bool = False,
    keep_files: bool = True,
) -> Diagnosis:
    """Diagnose every DATA file. With `keep_partial`, Ctrl-C ends the run with the files
    finished so far (`Diagnosis.interrupted`); otherwise KeyboardInterrupt propagates."""
    validate_codes((*options.select, *options.ignore))
    if options.augment is not None:  # a bad --augment fails before the scan, not after
        from kerasfix.augment import check_spec

        check_spec(options.augment)
    observer = observer or _Quiet()
    contract = load_contract(model_path, options.file_timeout)
    architecture = ArchitectureCheck(contract, options, shared_child())
    return _run(model_path, data_paths, options, observer, keep_partial, keep_files, architecture)


def _run(
    model_path: str,
    data_paths: list[str],
    options: DiagnoseOptions,
    observer: RunObserver,
    keep_partial: bool,
    keep_files: bool,
    architecture: ArchitectureCheck,
) -> Diagnosis:
    contract = architecture.contract
    diagnosis = Diagnosis(contract, Report(model_path, {}, [], 0, 0))
    # Keras's questions are asked here, in the run's own process, through its Keras child:
    # folder and cluster workers never import Keras.
    patches = InputPatchCheck(contract, options, architecture.child)
    notes: list[str] = []

    model_result = FileResult(path=model_path, role="model")
    build = architecture.model_build()
    for check in CHECKS:
        if check.scope == "model":
            model_result.findings.extend(check.run(ModelContext(contract, options, build)))
    model_result.findings = [f for f in model_result.findings if _selected(f, options)]
    results: list[FileResult] = [model_result]

    # KF501-KF503 sample batches from every group after the run: they need them back.
    from kerasfix.augment import wants_groups

    augmenting = wants_groups(contract, options)
    keep_files = keep_files or augmenting
    context = RunContext(contract, options, _read_label_file(options), keep_files)
    jobs = _plan_jobs(data_paths, options)
    if data_paths and not jobs:
        raise NoDataReadError(
            "no DATA found: "
            + _some(data_paths).replace("; ", ", ")
            + " holds no data file ("
            + ", ".join(sorted(FORMATS))
            + ")"
        )
    observer.started(len(jobs), model_result if model_result.findings else None, augmenting)
    unreadable_reasons: list[tuple[str, str]] = []
    done = 0
    shard_features: list[dict[str, Any]] = []
    finished: list[str] = []
    try:
        for outcome in _run_jobs(context, jobs):
            done += 1
            finished.append(outcome.job.path)
            if outcome.features:
                shard_features.append(outcome.features)
            if outcome.error is not None:
                unreadable_reasons.append((outcome.job.path, outcome.error))
            patches.check_file(outcome.results)  # KF105/KF106/KF402: or patch the model?
            architecture.check_file(outcome.results)  # KF601: shapes the model cannot take
            for result in outcome.results:  # --select/--ignore, KF001 of crashes included
                result.findings = [f for f in result.findings if _selected(f, options)]
            diagnosis.files.update(outcome.files)
            diagnosis.groups.extend(outcome.groups)
            results.extend(outcome.results)
            observer.file_done(outcome.job.path, outcome.results)
    except KeyboardInterrupt:
        if not keep_partial:
            raise
        diagnosis.interrupted = True
    readable = done - len(unreadable_reasons)
    diagnosis.finished_files = done

    if data_paths and done and not readable and not diagnosis.interrupted:
        count = f" ({len(unreadable_reasons)} files)" if len(unreadable_reasons) > 1 else ""
        raise NoDataReadError(
            f"no DATA could be read{count}: "
            + _some([f"{path}: {reason}" for path, reason in unreadable_reasons])
        )
    # Folder runs finish in completion order: put the groups back in DATA order, so repair
    # plans (and their manifests) do not depend on which worker was faster.
    order = {job.path: i for i, job in enumerate(jobs)}
    diagnosis.groups.sort(key=lambda g: order.get(g.path, len(order)))
    # KF501-KF503: once, after every file; not after Ctrl-C (the user asked to stop, and
    # the user's function could run for long).
    if readable and augmenting and not diagnosis.interrupted:
        from kerasfix.augment import check_augmentation

        augmented = check_augmentation(
            contract, options, diagnosis.groups, diagnosis.files, architecture.child, notes
        )
        for result in augmented:
            result.findings = [f for f in result.findings if _selected(f, options)]
            results.append(result)
    results = _merge(results)
    results = [r for r in results if r.role != "model" or r.findings]
    report = Report(
        model_path=model_path,
        model=contract.to_dict(),
        results=results,
        # Every data file the run looked at: x files, their label siblings, --y-file.
        files=len({r.path for r in results if r.role != "model"}),
        readable_files=readable,
        notes=_notes(data_paths, [*architecture.notes, *patches.notes, *notes]),
        fail_on=options.fail_on,
    )
    if shard_features:
        from kerasfix.records import merge_summaries

        report.features = merge_summaries(shard_features)
    if diagnosis.interrupted:
        report.interrupted = True
        done_paths = set(finished)  # in DATA order, as the report is
        report.finished = [job.path for job in jobs if job.path in done_paths]
        report.not_reached = [job.path for job in jobs if job.path not in done_paths]
    report.sort()
    diagnosis.report = report
    diagnosis.total_files = len(jobs)
    diagnosis.data_files = [p for job in jobs for p in (job.path, job.labels) if p is not None]
    return diagnosis


def _notes(data_paths: list[str], keras_notes: list[str]) -> list[str]:
    """What the run could not check, and why: a report must never read as an all-clear for
    what was not looked at."""
    notes = list(dict.fromkeys(keras_notes))
    if not data_paths:
        notes.append("no DATA was given: the model was checked alone")
    return notes


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


def _survey_plan(contract: ModelContract, options: DiagnoseOptions) -> SurveyPlan:
    """What a TFRecord shard's one pass must count for this model (every feature alike)."""
    thresholds = {e.input_dim for i in contract.inputs for e in i.embeddings}
    thresholds |= {o.units for o in contract.outputs if o.units}
    ignored = {
        o.loss.ignore_class
        for o in contract.outputs
        if o.loss is not None and o.loss.ignore_class is not None
    }
    return SurveyPlan(tuple(sorted(thresholds)), options.pad_value, tuple(sorted(ignored)))


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
            if file.survey is None:  # image pixels are never decoded (header survey only)
                _check_values(contract, options, result, ref, "input_values", input=inp)
            else:
                result.findings = [for_image_folder(f, options) for f in result.findings]
            if file.format == "csv":  # columns that look like ids or labels (issue 15)
                y_ref = next(iter(group.y.values()), None)
                result.findings = [for_table(f, ref, y_ref) for f in result.findings]
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
        if file.format == "csv" and ref.columns and ref.label_column is None:
            result.notes.append(
                f"the label column {ref.columns[0]!r} was found by its name; --y COLUMN names "
                "another"
            )
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
        elif check.scope == "dataset" and file.survey is not None:  # KF504/KF505
            anchor.findings.extend(check.run(DatasetContext(contract, options, file)))
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
    known: Callable[[ScanPlan], Any] | None = None,
) -> None:
    """One streaming pass over the array, then every value rule over its statistics
    (`known`: statistics a TFRecord shard's survey already gathered, for a scan plan)."""
    if input is not None:
        plan = kf2_values.plan_for_input(input, ref, options)
    else:
        assert output is not None
        plan = kf2_values.plan_for_output(output, ref)
    stats = None
    if plan is not None and known is not None:
        stats = known(plan)
    elif plan is not None and not (
        options.values_known and os.path.realpath(ref.path) in options.values_known
    ):
        try:
            stats = scan(ref, plan)
        except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error) as exc:
            text = str(exc).strip().splitlines()
            reason = f"reading the values failed: {text[0] if text else type(exc).__name__}"
            result.findings.append(UnreadableData.for_reason(reason))
            return
    if ref.ragged and stats is not None and stats.min_length is not None:
        assert stats.max_length is not None
        result.steps = (stats.min_length, stats.max_length, ref.step_shape)
    ctx = kf2_values.ValueContext(contract, options, ref, stats, input, output)
    for check in CHECKS:
        if check.scope == scope:
            result.findings.extend(check.run(ctx))


def _single_label(labels: DataFile, contract: ModelContract) -> dict[str, ArrayRef]:
    if len(labels.arrays) == 1 and len(contract.outputs) == 1:
        return label_rows(labels, {contract.outputs[0].name: next(iter(labels.arrays.values()))})
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
