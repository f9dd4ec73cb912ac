"""Keras's verdicts on the model's inside, for one run.

The architecture is built with Keras once per run, in the run's Keras child process, only
where the saved file does not already prove that it builds (an architecture `.json`, an edited
or never-built config); then once per distinct data shape that fills `None` axes a
size-sensitive layer reads (small images under a stack of poolings, odd sizes a U-Net halves).
Every answer Keras cannot give becomes a note on the run, never a dead run.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from kerasfix.checks.catalog import token_matches
from kerasfix.checks.kf6_architecture import data_break_finding, explain_break
from kerasfix.findings import Applicability, FileResult, Finding, Shape
from kerasfix.model.architecture import (
    BuildOutcome,
    LayerNode,
    ModelBuild,
    layer_graph,
    size_sensitive_layers,
)
from kerasfix.model.config import ConfigError
from kerasfix.model.contract import InputSpec, ModelContract, format_shape
from kerasfix.model.keras_child import KerasChild, KerasError, KerasUnavailable
from kerasfix.options import DiagnoseOptions

# Larger sizes tried when the data breaks a model that builds for its declared input: a few
# symbolic builds (a fraction of a second each) to say what size would do.
SIZE_TRIES = 6
# Distinct data shapes built per run (each a symbolic build, ~0.1-0.5 s): a folder of
# arrays of every size gets a note past this, not an hour of builds.
MAX_SHAPES = 64


class ArchitectureCheck:
    """Asks the run's Keras child about the architecture; remembers every answer."""

    def __init__(
        self, contract: ModelContract, options: DiagnoseOptions, child: KerasChild
    ) -> None:
        self.contract = contract
        self.options = options
        self.child = child
        self.notes: list[str] = []
        self._architecture: dict[str, Any] | None = None
        self._build: ModelBuild | None = None
        self._by_shapes: dict[tuple[tuple[str, Shape], ...], BuildOutcome | None] = {}
        self._data_notes: set[str] = set()

    # --- the model, for its declared inputs ---------------------------------------------

    def model_build(self) -> ModelBuild | None:
        """The build for the declared inputs (None for a SavedModel: its signature is all
        kerasfix reads of it)."""
        if self._build is not None or self.contract.format == "savedmodel":
            return self._build
        try:
            from kerasfix.model.patch import architecture, read_saved_config

            self._architecture = architecture(read_saved_config(self.contract.path))
            graph = layer_graph(self._architecture)
        except (ConfigError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self._build = ModelBuild(None, {}, f"the architecture could not be read: {exc}")
            self.notes.append(str(self._build.note))
            return self._build
        note = self._why_not_asked()
        if self.contract.proven_buildable or note is not None or not self._kf601_selected():
            self._build = ModelBuild(None, graph, note)
            if note is not None:
                self.notes.append(note)
            return self._build
        outcome, note = self._ask(self._architecture)
        edit_builds = None
        if outcome is not None and outcome.broken is not None:
            edit_builds = self._edit_builds(self._architecture, outcome, graph)
        self._build = ModelBuild(outcome, graph, note, edit_builds)
        if note is not None:
            self.notes.append(note)
        elif outcome is not None and outcome.unsupported:
            self.notes.append(f"KF601 not checked: {outcome.unsupported}")
        return self._build

    def layer_shapes(self) -> tuple[BuildOutcome | None, str | None]:
        """Keras's build for the declared inputs, asked even where the file proves it builds
        (`inspect` shows every layer's shapes), or why it was not asked."""
        if self.contract.format == "savedmodel":
            return None, "a SavedModel's layers are not read (its signature only)"
        build = self.model_build()
        if build is not None and build.outcome is not None:
            return build.outcome, None
        if build is None or self._architecture is None:
            return None, build.note if build else None
        if self.contract.unsafe_layers and not self.options.trust_model:
            return None, self._why_not_asked()
        if not self.options.trace_model:
            return None, "layer shapes not shown (--no-trace): only Keras can say them"
        return self._ask(self._architecture)

    def _edit_builds(
        self, config: dict[str, Any], outcome: BuildOutcome, graph: dict[str, LayerNode]
    ) -> bool | None:
        """Keras builds the config with the cause's one edit: offered only if it does."""
        from kerasfix.model.patch import with_architecture_edit

        assert outcome.broken is not None
        cause = explain_break(outcome.broken, graph, outcome.input_shapes)
        if cause.edit is None:
            return None
        try:
            edited = with_architecture_edit(config, cause.edit.to_dict())
        except ConfigError:
            return False
        checked, _ = self._ask(edited)
        return None if checked is None else checked.built

    def _why_not_asked(self) -> str | None:
        """Why the architecture cannot be given to Keras in this run, if it cannot."""
        if self.contract.proven_buildable:
            return None
        if self.contract.unsafe_layers and not self.options.trust_model:
            layer = self.contract.unsafe_layers[0]
            return (
                f"KF601 not checked: building the architecture would run the code it holds "
                f"('{layer.name}', {layer.class_name}; KF003); --trust-model lets Keras build it"
            )
        if not self.options.trace_model:
            return (
                "KF601 not checked (--no-trace): the file does not prove that the "
                "architecture builds, and only Keras can say"
            )
        return None

    def _ask(self, config: dict[str, Any]) -> tuple[BuildOutcome | None, str | None]:
        from kerasfix.model.build import build_architecture

        try:
            return self.child.call(build_architecture, config, self.options.trust_model), None
        except KerasUnavailable as exc:
            return None, f"Keras could not confirm that the architecture builds: {exc.reason}"
        except KerasError as exc:
            return None, f"Keras could not confirm that the architecture builds ({exc})"

    # --- the data's shapes ---------------------------------------------------------------

    def check_file(self, results: list[FileResult]) -> None:
        """KF601 on a data file whose shapes fill `None` axes that break the model."""
        build = self._build
        if (
            build is None
            or self._architecture is None
            or not (self.contract.proven_buildable or (build.outcome and build.outcome.built))
            or not size_sensitive_layers(build.graph)
            or not self._kf601_selected()
        ):
            return
        by_input: dict[str, Shape] = {}
        anchor: FileResult | None = None
        for result in results:
            inp = self.contract.input_named(result.input or "")
            if result.role != "x" or inp is None or result.shape is None:
                continue
            if any(f.code.startswith(("KF1", "KF0")) for f in result.findings):
                return  # the boundary findings come first: the data does not fit as it is
            data: Shape
            if result.steps is not None and len(inp.batch_shape) == 2 + len(result.steps[2]):
                # Sequences of several lengths train padded to the longest (KF401's repair):
                # that is the length the model must take. A fixed length is KF105/KF402's.
                if inp.batch_shape[1] is not None:
                    continue
                data = (inp.batch_shape[0], result.steps[1], *result.steps[2])
            else:
                data = (inp.batch_shape[0], *result.shape[1:])
            if len(data) != len(inp.batch_shape):
                return
            if data != inp.batch_shape:
                by_input[inp.name] = data
                anchor = anchor or result
        if anchor is None:
            return
        if not self.options.trace_model or (
            self.contract.unsafe_layers and not self.options.trust_model
        ):
            # Keras alone can say whether these shapes build: never a silent pass.
            if "data" not in self._data_notes:
                self._data_notes.add("data")
                classes = sorted(
                    {build.graph[n].class_name for n in size_sensitive_layers(build.graph)}
                )
                why = (
                    "--no-trace" if not self.options.trace_model else "the model holds code (KF003)"
                )
                self.notes.append(
                    "KF601 not checked for the data's shapes, which fill None axes that "
                    f"{', '.join(classes)} read ({why})"
                )
            return
        finding = self._data_finding(by_input)
        if finding is not None:
            anchor.findings.append(finding)

    def _kf601_selected(self) -> bool:
        """--select/--ignore: a build nobody asked for is not paid for."""

        def named(tokens: tuple[str, ...]) -> bool:
            return any(token_matches(t, "KF601", "layer-chain-break") for t in tokens)

        return (not self.options.select or named(self.options.select)) and not named(
            self.options.ignore
        )

    def _outcome_for(self, shapes: dict[str, Shape]) -> BuildOutcome | None:
        key = tuple(sorted(shapes.items()))
        if key not in self._by_shapes and len(self._by_shapes) >= MAX_SHAPES:
            if "cap" not in self._data_notes:  # a folder of arrays of every size
                self._data_notes.add("cap")
                self.notes.append(
                    f"KF601 checked for the first {MAX_SHAPES} distinct data shapes only: "
                    "each one is a Keras build"
                )
            return None
        if key not in self._by_shapes:
            from kerasfix.model.patch import with_input_shape

            config = self._architecture
            assert config is not None
            try:
                for name, shape in shapes.items():
                    config = with_input_shape(config, self._input_layer(name), shape)
            except ConfigError:
                self._by_shapes[key] = None
                return None
            outcome, note = self._ask(config)
            if note is not None and note not in self._data_notes:
                self._data_notes.add(note)
                data_note = note.replace("the architecture builds", "the data's shapes build")
                self.notes.append(data_note)
            self._by_shapes[key] = outcome
        return self._by_shapes[key]

    def _input_layer(self, name: str) -> str:
        return name

    def _data_finding(self, shapes: dict[str, Shape]) -> Finding | None:
        outcome = self._outcome_for(shapes)
        if outcome is None or outcome.broken is None:
            return None
        assert self._build is not None
        declared = {i.name: i.batch_shape for i in self.contract.inputs}
        cause = explain_break(outcome.broken, self._build.graph, outcome.input_shapes)
        fits = self._larger_fit(shapes, declared, cause.id)
        edit_builds = None
        if cause.edit is not None:
            from kerasfix.model.patch import with_input_shape

            config = self._architecture
            assert config is not None
            try:
                for name, shape in shapes.items():
                    config = with_input_shape(config, name, shape)
                edit_builds = self._edit_builds(config, outcome, self._build.graph)
            except ConfigError:
                edit_builds = False
        return data_break_finding(outcome, self._build.graph, shapes, declared, fits, edit_builds)

    def _larger_fit(
        self, shapes: dict[str, Shape], declared: dict[str, Shape], cause: str
    ) -> dict[str, Shape] | None:
        """The nearest larger shapes Keras builds for: doubled sizes where the data is below a
        window, the next multiple of a power of two where branches of odd sizes merge."""
        if cause not in ("window-larger-than-input", "merge-of-different-sizes"):
            return None
        for step in range(1, SIZE_TRIES + 1):
            tried: dict[str, Shape] = {}
            for name, shape in shapes.items():
                free = declared.get(name, shape)
                dims: list[int | None] = []
                for axis, (size, want) in enumerate(zip(shape, free, strict=True)):
                    if axis == 0 or want is not None or size is None:
                        dims.append(size)
                    elif cause == "window-larger-than-input":
                        dims.append(size * 2**step)
                    else:
                        multiple = 2**step
                        dims.append(-(-size // multiple) * multiple)
                tried[name] = tuple(dims)
            if tried == shapes:
                continue
            outcome = self._outcome_for(tried)
            if outcome is None:
                return None
            if outcome.built:
                return tried
        return None


# --- whether the model's input can take the data instead (KF105, KF106, KF402) ---------------

PATCHABLE_INPUT_CODES = frozenset({"KF105", "KF106", "KF402"})


def input_candidates(inp: InputSpec, finding: Finding) -> tuple[Shape, ...]:
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


class InputPatchCheck:
    """For a length or size mismatch, asks the run's Keras child whether the model's input can
    take the data instead (no weight depends on that axis), and says which fix is which.
    Asked in the run's own process for every file (folder workers and cluster workers never
    import Keras), once per input and shape."""

    def __init__(
        self, contract: ModelContract, options: DiagnoseOptions, child: KerasChild
    ) -> None:
        self.contract = contract
        self.options = options
        self.child = child
        self.notes: list[str] = []
        self._verdicts: dict[tuple[str, tuple[Shape, ...]], Any] = {}

    def applies(self) -> bool:
        return (
            self.options.trace_model
            and self.contract.format != "savedmodel"
            and not (self.contract.unsafe_layers and not self.options.trust_model)
        )

    def check_file(self, results: list[FileResult]) -> None:
        """Every KF105/KF106/KF402 of an x array gains the model-patch answer (in place)."""
        if not self.applies():
            return
        for result in results:
            inp = self.contract.input_named(result.input or "")
            if result.role != "x" or inp is None:
                continue
            result.findings = [
                self._with_model_patch(inp, f) if f.code in PATCHABLE_INPUT_CODES else f
                for f in result.findings
            ]

    def _verdict(self, inp: InputSpec, finding: Finding) -> Any:
        from kerasfix.model import trace

        candidates = input_candidates(inp, finding)
        key = (inp.name, candidates)
        if key not in self._verdicts:
            try:
                # The child keeps the directory it started in: the path goes absolute.
                path = os.path.abspath(self.contract.path)
                verdict = self.child.call(trace.input_patch, path, inp.name, candidates)
            except KerasUnavailable as exc:
                note = (
                    "Keras could not confirm whether the model's input can be patched to take "
                    f"the data instead (KF105/KF106/KF402 show the data fixes only): {exc.reason}"
                )
                if note not in self.notes:
                    self.notes.append(note)
                verdict = None
            except KerasError as exc:  # Keras could not rebuild the model: data fixes only
                verdict = trace.Verdict(False, inp.batch_shape, exc.message or exc.kind)
            self._verdicts[key] = verdict
        return self._verdicts[key]

    def _with_model_patch(self, inp: InputSpec, finding: Finding) -> Finding:
        verdict = self._verdict(inp, finding)
        if verdict is None:
            return finding
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
