"""Repairs planned as plain data: which action fixes which finding, in which file, with what
loss. Planning reads only the diagnosis; nothing is written until the plan is applied."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kerasfix.api import Diagnosis
from kerasfix.errors import UsageError
from kerasfix.findings import Applicability, FileResult, Finding
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.keys import Group
from kerasfix.model.contract import ModelContract
from kerasfix.options import DiagnoseOptions
from kerasfix.repair.carry import CarryPlan


@dataclass(frozen=True)
class RepairOptions:
    unsafe_fixes: bool = False
    dry_run: bool = False
    verify_fit: bool = False
    # Which fix to take where both a data fix and a model patch exist: "data", "model", or
    # None: the lossless one (the model patch where the data fix would lose data).
    prefer: str | None = None
    # Write only the repaired files; by default DIR also holds every unchanged DATA file of
    # the run (hard links or copies: repair/carry.py), ready to train from.
    changed_only: bool = False


@dataclass(frozen=True)
class RepairAction:
    """One transform of one array (`key`), or of every array of a group (row actions)."""

    code: str
    action: str  # expand_dims, squeeze, transpose, reshape, pad, pad_sequences, shift,
    # one_hot, argmax, cast, drop_nonfinite_rows, drop_remainder, truncate_rows
    key: str | None
    applicability: str
    params: dict[str, Any] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FilePlan:
    path: str
    output: str  # relative to DIR
    format: str
    actions: list[RepairAction] = field(default_factory=list)
    skipped: list[RepairAction] = field(default_factory=list)
    # Set when written: the output's data bytes are the input's (a header rewrite only).
    header_only: bool = False
    # Set when applied: an earlier run's output was already right and was kept as it is.
    kept: bool = False

    def steps_for(self, key: str | None) -> list[RepairAction]:
        return [a for a in self.actions if a.key == key and a.action not in ROW_ACTIONS]


@dataclass
class RepairPlan:
    out_dir: str
    files: list[FilePlan] = field(default_factory=list)
    # Row selections shared by a group's files: (paths, actions).
    row_groups: list[tuple[list[tuple[str, str | None]], list[RepairAction]]] = field(
        default_factory=list
    )
    unfixable: list[tuple[str, str | None, Finding]] = field(default_factory=list)
    # Patches of the model itself, written as DIR/model.keras: (path, key) of the finding each
    # fixes, and the action.
    model_actions: list[tuple[str, str | None, RepairAction]] = field(default_factory=list)
    model_skipped: list[tuple[str, str | None, RepairAction]] = field(default_factory=list)
    model_output: str = "model.keras"
    model_path: str = ""
    # Unchanged DATA files carried into DIR beside the repaired ones (not with --changed-only).
    carried: list[CarryPlan] = field(default_factory=list)

    @property
    def applied(self) -> list[RepairAction]:
        return [a for f in self.files for a in f.actions] + [a for _, _, a in self.model_actions]

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out_dir,
            "files": [
                {
                    "input": f.path,
                    "output": f.output,
                    "format": f.format,
                    "actions": [a.to_dict() for a in f.actions],
                    "skipped": [a.to_dict() for a in f.skipped],
                }
                for f in self.files
            ],
            "model": {
                "input": self.model_path,
                "output": self.model_output,
                "actions": [a.to_dict() | {"for": [p, k]} for p, k, a in self.model_actions],
                "skipped": [a.to_dict() | {"for": [p, k]} for p, k, a in self.model_skipped],
            },
            "unfixable": [
                {"path": p, "key": k, "code": f.code, "name": f.name, "what": f.what}
                for p, k, f in self.unfixable
            ],
            "carried": [{"input": c.path, "output": c.output} for c in self.carried],
        }


WRITABLE_FORMATS = frozenset({"npy", "npz", "h5", "jsonl", "json", "images", "tfrecord"})


def _format(diagnosis: Diagnosis, path: str) -> str:
    return diagnosis.files[path].format if path in diagnosis.files else "npy"


ROW_ACTIONS = frozenset({"drop_nonfinite_rows", "drop_remainder", "truncate_rows"})

Planner = Callable[[Finding, ArrayRef, ModelContract, DiagnoseOptions], list[RepairAction]]


def _act(finding: Finding, ref: ArrayRef, action: str, **params: Any) -> RepairAction:
    return RepairAction(
        code=finding.code,
        action=action,
        key=ref.key,
        applicability=finding.applicability.value,
        params=params,
        description=finding.fix,
    )


def _expand(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    return [_act(f, ref, "expand_dims", axis=int(f.details["axis"]))]


def _squeeze(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    return [_act(f, ref, "squeeze", axis=int(f.details["axis"]))]


def _transpose(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    return [_act(f, ref, "transpose", axes=list(f.details["axes"]))]


def _reshape(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    if f.applicability is not Applicability.SAFE or "target_shape" not in f.details:
        return []
    return [_act(f, ref, "reshape", sample_shape=list(f.details["target_shape"][1:]))]


def _batch_axis(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    return [_act(f, ref, "add_batch_axis")]


def _length(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    if ref.ragged:
        return _pad_ragged(f, ref, c, o)
    axis, length, got = (
        int(f.details["axis"]),
        int(f.details["input_length"]),
        int(f.details["length"]),
    )
    lost = {"steps_truncated_per_sample": got - length} if got > length else {}
    action = _act(
        f,
        ref,
        "pad",
        axis=axis,
        length=length,
        padding=o.padding,
        truncating=o.truncating,
        value=o.pad_value,
    )
    # The finding may read "safe" because the model can be patched; cutting data never is.
    applicability = Applicability.UNSAFE.value if got > length else Applicability.SAFE.value
    return [RepairAction(**{**asdict(action), "lost": lost, "applicability": applicability})]


def _pad_ragged(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    maxlen = f.details.get("maxlen") or f.details.get("input_length") or f.expected
    dtype = _pad_dtype(ref, o)
    return [
        _act(
            f,
            ref,
            "pad_sequences",
            maxlen=int(maxlen),
            padding=o.padding,
            truncating=o.truncating,
            value=o.pad_value,
            dtype=dtype,
            **_steps(ref),
        )
    ]


def _steps(ref: ArrayRef) -> dict[str, Any]:
    """Sequences of feature vectors pad to (maxlen, features): the step shape travels with
    the action (token lists need none)."""
    return {"step_shape": list(ref.step_shape)} if ref.step_shape else {}


def _truncate_ragged(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    action = _act(
        f,
        ref,
        "pad_sequences",
        maxlen=int(f.expected),
        padding=o.padding,
        truncating=o.truncating,
        value=o.pad_value,
        dtype=_pad_dtype(ref, o),
        **_steps(ref),
    )
    lost = {
        "sequences_truncated": int(f.details["sequences"]),
        ("steps_truncated" if ref.step_shape else "tokens_truncated"): int(
            f.details["tokens_lost"]
        ),
    }
    unsafe = Applicability.UNSAFE.value
    return [RepairAction(**{**asdict(action), "lost": lost, "applicability": unsafe})]


def _pad_dtype(ref: ArrayRef, o: DiagnoseOptions) -> str:
    """int32 token ids as pad_sequences makes them (refusing a pad value int32 cannot hold);
    floats keep their precision."""
    if ref.kind in "biu":
        value = o.pad_value
        if value != int(value) or not -(2**31) <= value < 2**31:
            raise UsageError(f"--pad-value {value:g} does not fit the int32 token ids")
        return "int32"
    return "float64" if ref.dtype == "float64" else "float32"


def _shift(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    return [_act(f, ref, "shift", by=-1)]


def _argmax(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    return [_act(f, ref, "argmax")]


def _one_hot(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    return [_act(f, ref, "one_hot", units=int(f.expected[-1]))]


def _label_reshape(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    if f.details.get("repeat_steps") and not ref.ragged:
        # One label per sample for a per-step head: the label repeated at every step.
        steps = int(f.details["repeat_steps"])
        action = _act(f, ref, "repeat_steps", steps=steps)
        invented = {"labels_invented": _row_count(ref) * (steps - 1)}
        return [replace(action, applicability=Applicability.UNSAFE.value, lost=invented)]
    if f.applicability is not Applicability.SAFE:
        return []
    return [_act(f, ref, "reshape", sample_shape=[int(d) for d in f.expected[1:]])]


def _row_count(ref: ArrayRef) -> int:
    return ref.shape[0] if ref.shape else 1


def _map_oov(f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions) -> list[RepairAction]:
    """--oov-id N: ids the Embedding cannot look up (>= input_dim, negative) become N, as a
    transform of the id array (any format that holds ids)."""
    if o.oov_id is None:
        return []
    layer = f.details.get("layer")
    # Every Embedding reading this input must be able to look the ids up: the smallest table.
    dims = [
        e.input_dim
        for inp in c.inputs
        if any(e.layer == layer for e in inp.embeddings)
        for e in inp.embeddings
    ] or [int(f.expected[1])]
    input_dim = min(dims)
    if not 0 <= o.oov_id < input_dim:
        raise UsageError(
            f"--oov-id {o.oov_id} is not an id Embedding '{layer}' can look up: it takes ids "
            f"in [0, {input_dim})"
        )
    # KF201 maps the ids past the table, KF202 the negative ones: each action its own.
    if f.code == "KF202":
        action = _act(f, ref, "map_oov", negative=True, oov_id=o.oov_id)
    else:
        action = _act(f, ref, "map_oov", input_dim=input_dim, oov_id=o.oov_id)
    return [
        replace(
            action,
            applicability=Applicability.UNSAFE.value,
            lost={"ids_mapped": int(f.details.get("count", 0))},
        )
    ]


def _drop_nonfinite(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    action = _act(f, ref, "drop_nonfinite_rows")
    return [
        RepairAction(**{**asdict(action), "lost": {"samples_dropped": int(f.received["rows"])}})
    ]


def _drop_remainder(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    if "remainder" not in f.details:
        return []  # a stateful model fed batches of another size: the training call's to fix
    batch, remainder = int(f.expected), int(f.details["remainder"])
    action = RepairAction(
        code=f.code,
        action="drop_remainder",
        key=ref.key,
        applicability=Applicability.UNSAFE.value,
        params={"batch_size": batch},
        lost={"samples_dropped": remainder},
        description=f.fix,
    )
    return [action]


def _truncate_rows(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    shortest = int(f.expected)
    dropped = sum(int(n) - shortest for n in f.received.values())
    action = _act(f, ref, "truncate_rows", rows=shortest)
    return [RepairAction(**{**asdict(action), "lost": {"samples_dropped": dropped}})]


def _convert_channels(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    """KF107 on image arrays: grayscale <-> RGB, RGBA -> RGB (unsafe: a channel is invented
    or information dropped)."""
    if "channels" not in f.details:
        return []
    source, target = (int(n) for n in f.details["channels"])
    action = _act(f, ref, "convert_channels", axis=int(f.details["axis"]), to=target)
    action = replace(action, params={**action.params, "from": source})
    lost = {"samples_converted": _row_count(ref)}
    return [replace(action, applicability=Applicability.UNSAFE.value, lost=lost)]


def _convert_images(
    f: Finding, ref: ArrayRef, c: ModelContract, o: DiagnoseOptions
) -> list[RepairAction]:
    from kerasfix.repair.images import plan_convert

    return plan_convert(f, ref, c, o)


PLANNERS: dict[str, Planner] = {
    "KF101": _expand,
    "KF102": _squeeze,
    "KF103": _transpose,
    "KF104": _reshape,
    "KF105": _length,
    "KF107": _convert_channels,
    "KF108": _batch_axis,
    "KF201": _map_oov,
    "KF202": _map_oov,
    "KF212": _shift,
    "KF213": _argmax,
    "KF214": _one_hot,
    "KF215": _label_reshape,
    "KF221": _drop_nonfinite,
    "KF301": _truncate_rows,
    "KF302": _drop_remainder,
    "KF401": _pad_ragged,
    "KF402": _truncate_ragged,
    "KF504": _convert_images,
}


def _choose_model(
    data: list[RepairAction], model: list[RepairAction], options: RepairOptions
) -> bool:
    if options.prefer == "model":
        return True
    if options.prefer == "data":
        return not data
    if data and all(a.action == "map_oov" for a in data):
        return False  # --oov-id asked for the ids to be mapped, not the table grown
    # The lossless one: a data fix that loses or invents data gives way to an exact patch.
    return not data or any(a.applicability != "safe" for a in data)


def model_patches(
    finding: Finding,
    ref: ArrayRef | None,
    contract: ModelContract,
    o: DiagnoseOptions,
    output_for: str | None = None,
) -> list[RepairAction]:
    """Patches of the model that fix `finding` exactly (the weights are kept)."""
    if contract.format not in ("keras", "h5", "json"):
        return []

    def patch(action: str, **params: Any) -> RepairAction:
        return RepairAction(
            code=finding.code,
            action=action,
            key=ref.key if ref is not None else None,
            applicability=Applicability.SAFE.value,
            params=params,
            description=finding.fix,
        )

    verdict = finding.details.get("model_patch")
    if finding.code in ("KF105", "KF106", "KF402") and verdict and verdict["patchable"]:
        return [patch("patch_input", input=verdict["input"], batch_shape=verdict["batch_shape"])]
    if finding.code in ("KF302", "KF304") and not contract.stateful:
        return [
            patch("patch_input", input=inp.name, batch_shape=[None, *inp.sample_shape])
            for inp in contract.inputs
            if inp.batch_size is not None
        ]
    if finding.code in ("KF213", "KF214") and ref is not None:
        names = [output_for] if output_for else [o.name for o in contract.outputs][:1]
        target = next((o for o in contract.outputs if o.name in names), None)
        if target is not None and target.loss is not None:
            new = (
                "categorical_crossentropy"
                if finding.code == "KF213"
                else "sparse_categorical_crossentropy"
            )
            return [patch("patch_loss", output=target.name, loss=new)]
    if finding.code == "KF201" and "layer" in finding.details and "max_id" in finding.details:
        grow = patch(
            "grow_embedding",
            layer=finding.details["layer"],
            input_dim=int(finding.details["max_id"]) + 1,
        )
        # New rows are untrained: the ids they serve start from noise.
        return [RepairAction(**{**asdict(grow), "applicability": Applicability.UNSAFE.value})]
    if finding.code in ("KF601", "KF602", "KF215") and isinstance(
        finding.details.get("edit"), dict
    ):
        edit = finding.details["edit"]
        # It changes what the model computes: only with --unsafe-fixes.
        return [
            RepairAction(
                code=finding.code,
                action="edit_architecture",
                key=ref.key if ref is not None else None,
                applicability=Applicability.UNSAFE.value,
                params={k: v for k, v in edit.items() if k != "description"},
                description=str(edit.get("description") or finding.fix),
            )
        ]
    if finding.code == "KF602" and finding.expected == "binary_crossentropy":
        single = [out for out in contract.outputs if out.units == 1 and out.activation == "sigmoid"]
        if len(single) == 1:
            return [patch("patch_loss", output=single[0].name, loss="binary_crossentropy")]
    return []


def output_name(path: str, data_args: list[str]) -> str:
    """Where a repaired file goes under DIR: its path relative to the DATA folder it was found
    in, or its own name for a file given directly (or found beside one)."""
    real = os.path.realpath(path)
    for arg in data_args:
        if os.path.isdir(arg):
            root = os.path.realpath(arg)
            if real.startswith(root + os.sep):
                return os.path.relpath(real, root)
    return os.path.basename(path)


def check_out_dir(out_dir: str, data_args: list[str], inputs: list[str]) -> None:
    """Refuse a DIR that is a file (or lies under one), or that lies inside a DATA folder (a
    rerun would read the outputs as inputs)."""
    probe = os.path.abspath(out_dir)
    while True:
        if os.path.lexists(probe) and not os.path.isdir(probe):
            raise UsageError(f"--out {out_dir}: {probe} exists and is not a folder")
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    out_real = os.path.realpath(out_dir)
    for arg in data_args:
        if os.path.isdir(arg):
            root = os.path.realpath(arg)
            if out_real == root or out_real.startswith(root + os.sep):
                raise UsageError(
                    f"--out {out_dir} lies inside the DATA folder {arg}; choose a folder outside it"
                )
    for path in inputs:
        if os.path.realpath(os.path.dirname(os.path.abspath(path))) == out_real:
            raise UsageError(
                f"--out {out_dir} holds the input {path}; a repaired file would replace it"
            )


def check_outputs(plan: RepairPlan, inputs: list[str]) -> None:
    """Two inputs may not become one output; no output may be any input (by path, or by a
    symlink to it); no output may leave DIR through a symlinked folder; no output may be a
    folder. (An output that is a hard link to an input, as a carried file of an earlier run
    is, may be replaced: every write replaces the name in DIR, never the file's bytes.)"""
    out_real = os.path.realpath(plan.out_dir)
    input_reals = {os.path.realpath(p) for p in inputs}
    seen: dict[str, str] = {}
    outputs = [(f.path, f.output, f.format) for f in plan.files if f.actions]
    outputs += [(c.path, c.output, "images" if c.folder else "file") for c in plan.carried]
    for path, output, fmt in outputs:
        if output in seen:
            raise UsageError(
                f"{path} and {seen[output]} would both be written to "
                f"{os.path.join(plan.out_dir, output)}; repair them separately"
            )
        seen[output] = path
        final = os.path.join(plan.out_dir, output)
        folder = os.path.dirname(os.path.abspath(final))
        probe = folder
        while probe.startswith(os.path.abspath(plan.out_dir)) and probe != os.path.abspath(
            plan.out_dir
        ):
            if os.path.islink(probe):
                raise UsageError(
                    f"{probe} is a symbolic link; kerasfix does not write through links"
                )
            probe = os.path.dirname(probe)
        real = os.path.realpath(final)
        if not (real == out_real or real.startswith(out_real + os.sep)):
            raise UsageError(f"the output {final} would land outside --out {plan.out_dir}")
        if os.path.isdir(final) and fmt != "images":  # an image folder is written as one
            raise UsageError(f"the output {final} is a folder")
        if real in input_reals:
            raise UsageError(f"the output {final} is an input; choose another --out")


def plan_repair(
    diagnosis: Diagnosis,
    data_args: list[str],
    out_dir: str,
    options: RepairOptions,
    diagnose_options: DiagnoseOptions,
) -> RepairPlan:
    contract = diagnosis.contract
    plan = RepairPlan(out_dir=out_dir, model_path=diagnosis.report.model_path)
    by_path: dict[str, FilePlan] = {}
    # Sequences whose input length a KF402 patch opens: padding goes to the longest (or the
    # patched length), never to the old length, which would cut what the patch keeps.
    patched_lengths: dict[tuple[str, str | None], int] = {}

    def file_plan(ref: ArrayRef) -> FilePlan:
        if ref.path not in by_path:
            fmt = diagnosis.files[ref.path].format if ref.path in diagnosis.files else "npy"
            by_path[ref.path] = FilePlan(ref.path, output_name(ref.path, data_args), fmt)
        return by_path[ref.path]

    for group in diagnosis.groups:
        row_actions: list[RepairAction] = []
        members = _members(group)
        for ref in members:
            result = diagnosis.result(ref.path, ref.key)
            if result is None:
                continue
            for finding in _fixable_order(result):
                planner = PLANNERS.get(finding.code)
                actions = planner(finding, ref, contract, diagnose_options) if planner else []
                patches = model_patches(finding, ref, contract, diagnose_options, result.output)
                if patches and _choose_model(actions, patches, options):
                    for patch in patches:
                        allowed = patch.applicability == "safe" or options.unsafe_fixes
                        entry = (ref.path, ref.key, patch)
                        (plan.model_actions if allowed else plan.model_skipped).append(entry)
                        if allowed and finding.code == "KF402":
                            length = patch.params["batch_shape"][1]
                            patched_lengths[(ref.path, ref.key)] = (
                                int(length) if length is not None else int(finding.received)
                            )
                    continue
                fmt = _format(diagnosis, ref.path)
                if actions and (
                    fmt not in WRITABLE_FORMATS or (fmt == "images") != (finding.code == "KF504")
                ):
                    # No writer for this format (tables), and an image folder is only ever
                    # converted (KF504): the fix stays advice.
                    actions = []
                if not actions:
                    plan.unfixable.append((ref.path, ref.key, finding))
                    continue
                for action in actions:
                    allowed = action.applicability == "safe" or options.unsafe_fixes
                    target = file_plan(ref)
                    if action.action in ROW_ACTIONS:
                        (row_actions if allowed else target.skipped).append(action)
                    else:
                        (target.actions if allowed else target.skipped).append(action)
        if row_actions:
            # Rows are dropped from every array of the group alike, so x and y stay paired.
            for ref in members:
                file_plan(ref)
            keys = [(ref.path, ref.key) for ref in members]
            plan.row_groups.append((keys, row_actions))
            for path in {ref.path for ref in members}:
                by_path[path].actions.extend(
                    a for a in row_actions if a not in by_path[path].actions
                )
    for result in diagnosis.report.results:
        if result.role != "model":
            continue
        for finding in result.findings:
            patches = model_patches(finding, None, contract, diagnose_options)
            if not patches:
                # The model's own findings no edit fixes are said, with what is plausible.
                plan.unfixable.append((result.path, None, finding))
            for patch in patches:
                allowed = patch.applicability == "safe" or options.unsafe_fixes
                entry = (result.path, None, patch)
                (plan.model_actions if allowed else plan.model_skipped).append(entry)
    edits = [a for _, _, a in plan.model_actions if a.action == "edit_architecture"]
    if edits and len(edits) != len(plan.model_actions):
        raise UsageError(
            f"{contract.path}: both an architecture edit (KF601) and an input or loss patch "
            "apply; repair the architecture first (--select KF601), then the rest"
        )
    if edits and contract.format == "json":
        plan.model_output = "model.json"  # an architecture in, an architecture out
    elif plan.model_actions:
        if contract.format not in ("keras", "h5"):
            raise UsageError(
                f"{contract.path}: a {contract.format} model has no weights to keep; only data "
                "fixes apply (--prefer data)"
            )
        if contract.unsafe_layers and not diagnose_options.trust_model:
            layer = contract.unsafe_layers[0]
            raise UsageError(
                f"{contract.path}: patching the model means loading it, and it holds code "
                f"('{layer.name}', {layer.class_name}); pass --trust-model if you trust it, or "
                "--prefer data"
            )
    covered = {(ref.path, ref.key) for group in diagnosis.groups for ref in _members(group)}
    for result in diagnosis.report.results:
        # Unreadable files (KF001), unmapped ones (KF002): findings no repair reaches.
        if result.role != "model" and (result.path, result.key) not in covered:
            plan.unfixable.extend((result.path, result.key, f) for f in result.findings)
    from kerasfix.repair.tfrecord import plan_drops

    plan_drops(
        plan,
        diagnosis,
        options,
        by_path,
        lambda path: FilePlan(path, output_name(path, data_args), _format(diagnosis, path)),
    )
    plan.files = sorted(by_path.values(), key=lambda f: f.path)
    for file in plan.files:
        file.actions = [
            replace(a, params={**a.params, "maxlen": patched_lengths[(file.path, a.key)]})
            if a.action == "pad_sequences" and (file.path, a.key) in patched_lengths
            else a
            for a in file.actions
        ]
    _drop_superseded(plan)
    _unpadded_mappings(plan, diagnosis)
    if not options.changed_only:
        plan.carried = _carried(plan, diagnosis, data_args, diagnose_options)
    return plan


def _carried(
    plan: RepairPlan, diagnosis: Diagnosis, data_args: list[str], options: DiagnoseOptions
) -> list[CarryPlan]:
    """Every DATA file of the run that no action changes, label siblings and --y-file
    included, each where it would have been written: DIR then holds the whole dataset."""
    written = {os.path.realpath(f.path) for f in plan.files if f.actions}
    paths = [*diagnosis.data_files, *([options.y_file] if options.y_file else [])]
    carried: dict[str, CarryPlan] = {}
    for path in paths:
        real = os.path.realpath(path)
        if real in written or real in carried:
            continue
        folder = os.path.isdir(path)
        carried[real] = CarryPlan(path, output_name(path, data_args), folder)
    return list(carried.values())


def _unpadded_mappings(plan: RepairPlan, diagnosis: Diagnosis) -> None:
    """--oov-id on sequences of several lengths that are not padded (KF401 not selected):
    a `.jsonl`/`.json` keeps them as lists, but an array file can only hold them padded, so
    the mapping is not applied there."""
    for file in plan.files:
        if file.format in ("jsonl", "json") or file.path not in diagnosis.files:
            continue
        arrays = diagnosis.files[file.path].arrays
        padded = {a.key for a in file.actions if a.action == "pad_sequences"}
        for action in [a for a in file.actions if a.action == "map_oov"]:
            ref = arrays.get(action.key or "")
            if ref is None or not ref.ragged or ref.row_length is not None:
                continue
            if action.key in padded:
                continue
            file.actions.remove(action)
            result = diagnosis.result(file.path, action.key)
            for finding in result.findings if result is not None else []:
                if finding.code == action.code:
                    plan.unfixable.append((file.path, action.key, finding))


def _members(group: Group) -> list[ArrayRef]:
    refs = [*group.x.values(), *group.y.values()]
    if group.sample_weight is not None:
        refs.append(group.sample_weight)
    unique: dict[tuple[str, str | None], ArrayRef] = {}
    for ref in refs:
        unique.setdefault((ref.path, ref.key), ref)
    return list(unique.values())


def _fixable_order(result: FileResult) -> list[Finding]:
    return sorted(result.findings, key=lambda f: f.code)


def _drop_superseded(plan: RepairPlan) -> None:
    """KF401 and KF402 on one array are the same pad_sequences (same maxlen): when truncation
    is not allowed, padding alone cannot reach the length, so the pad is skipped too."""
    for file in plan.files:
        for key in {a.key for a in file.skipped if a.code == "KF402"}:
            for action in [a for a in file.actions if a.key == key and a.action == "pad_sequences"]:
                file.actions.remove(action)
                file.skipped.append(action)
