"""The command line: parse options, call the library, render, exit with RULES.md's codes."""

from __future__ import annotations

import contextlib
import enum
import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from kerasfix import __version__, api
from kerasfix.errors import KerasfixError
from kerasfix.findings import Finding, Report, Severity
from kerasfix.loaders.keys import KeyOptions
from kerasfix.options import DiagnoseOptions

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# stdout's reader went away (`kerasfix diagnose ... | head`): what a Unix tool killed by
# SIGPIPE reports to its shell.
EXIT_BROKEN_PIPE = 141

# Every command's --help ends with one example and the exit codes (RULES.md's table). The help
# is rendered with rich markup: a literal "[" is written "\\[".
EXIT_CODES = (
    "Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage error, "
    "unreadable MODEL, or no DATA readable at all; 3 a kerasfix bug (rerun with --traceback); "
    "130 interrupted (Ctrl-C, SIGTERM)."
)


def _epilog(example: str, codes: str = EXIT_CODES) -> str:
    return f"Example: {example}\n\n{codes}"


def _plain_flags(params: list[Any]) -> list[Any]:
    """On/off flags (--help, --install-completion and ours) without a `<bool>` type
    placeholder in --help: a flag takes no value."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.param_type_name == "argument" and hasattr(param, "display_type_rich"):
            # An argument's name (MODEL, DATA) says what it takes: no `<str>` beside it.
            param.display_type_rich = lambda ctx: None
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


app = typer.Typer(
    name="kerasfix",
    help="Find and repair mismatches between a saved Keras model and its training data.",
    epilog=_epilog(
        "kerasfix diagnose model.keras data/ --format json",
        EXIT_CODES + "\n\nShell completion: kerasfix --install-completion (bash, zsh, fish, "
        "PowerShell), or kerasfix --show-completion to see the script.",
    ),
    # --install-completion / --show-completion (the shell found by shellingham).
    add_completion=True,
    cls=_Group,
    no_args_is_help=True,
    # Tracebacks are for kerasfix bugs only, and only on request (--traceback).
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, enum.Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    github = "github"
    sarif = "sarif"


class ShortFormat(str, enum.Enum):
    text = "text"
    json = "json"


class FailOn(str, enum.Enum):
    error = "error"
    warning = "warning"
    never = "never"


def _stderr(message: str) -> None:
    # Plain writes: rich would wrap long lines when stderr is not a terminal.
    sys.stderr.write(f"kerasfix: {message}\n")
    sys.stderr.flush()


def _handle(action: Callable[[], int], show_traceback: bool) -> NoReturn:
    """The one error handler: user problems exit 2, Ctrl-C 130, kerasfix bugs 3."""
    try:
        with _terminate_as_interrupt():
            code = action()
    except BrokenPipeError:
        # Quietly, and with nothing more for Python to flush into the closed pipe at exit.
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except KerasfixError as exc:
        _stderr(f"error: {exc}")
        code = exc.exit_code
    except KeyboardInterrupt:
        _stderr("interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if show_traceback:
            traceback.print_exc(file=sys.stderr)
        text = str(exc).strip().splitlines()
        _stderr(
            f"internal error: {type(exc).__name__}: {text[0] if text else ''} "
            "(a kerasfix bug; rerun with --traceback and report it)"
        )
        code = EXIT_INTERNAL
    raise typer.Exit(code)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `timeout`) cleans up exactly as Ctrl-C does: workers
    stopped, no partial file left, the finished part reported, exit 130."""

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kerasfix {__version__}")
        raise typer.Exit()


TracebackOpt = Annotated[
    bool, typer.Option("--traceback", metavar="", help="Show the traceback of an internal error.")
]


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", metavar="", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Find and repair mismatches between a saved Keras model and its training data."""


ModelArg = Annotated[
    str, typer.Argument(metavar="MODEL", help=".keras, .h5, architecture .json or SavedModel")
]
XOpt = Annotated[
    list[str] | None,
    typer.Option("--x", metavar="KEY", help="Input array key, or input_name=key (repeatable)."),
]
YOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--y",
        metavar="KEY",
        help="Label array key or table column, or output_name=key (repeatable).",
    ),
]
YFileOpt = Annotated[
    str | None, typer.Option("--y-file", metavar="FILE", help="A separate file holding the labels.")
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option("--batch-size", metavar="N", min=1, help="The batch size training will use."),
]
SelectOpt = Annotated[
    list[str] | None,
    typer.Option("--select", metavar="CODES", help="Only these codes, prefixes or names."),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option("--ignore", metavar="CODES", help="Skip these codes, prefixes or names."),
]
FailOnOpt = Annotated[
    FailOn,
    typer.Option(
        "--fail-on",
        metavar="error|warning|never",
        help="Exit 1 on findings at or above this severity.",
    ),
]
AllowPickleOpt = Annotated[
    bool,
    typer.Option(
        "--allow-pickle", metavar="", help="Allow unpickling object arrays (trusted files)."
    ),
]
TrustModelOpt = Annotated[
    bool, typer.Option("--trust-model", metavar="", help="Allow running code the model holds.")
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        metavar="N",
        min=1,
        help="Worker processes for folder runs (default: cores).",
    ),
]
GlobOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--glob",
        metavar="PATTERN",
        help="Only files whose name or relative path matches (repeatable).",
    ),
]
ExcludeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="PATTERN",
        help="Skip files whose name or relative path matches (repeatable).",
    ),
]
FileTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--file-timeout",
        metavar="SECONDS",
        min=0.001,
        help="Seconds one file may take; then it is a KF001.",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run the per-file work on this Dask scheduler (kerasfix\\[dask]).",
    ),
]
AugmentOpt = Annotated[
    str | None,
    typer.Option(
        "--augment",
        metavar="FILE.py:FUNC",
        help="FILE.py:FUNC, an augmentation taking and returning (x, y); runs that code "
        "in-process (KF501-KF503).",
    ),
]
DrawsOpt = Annotated[
    int, typer.Option("--draws", metavar="N", min=1, max=1000, help="Seeded augmentation draws.")
]
ImageSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--image-size",
        metavar="HxW",
        help="HxW image folders are resized to, as image_dataset_from_directory (default 256x256).",
    ),
]


class ColorMode(str, enum.Enum):
    rgb = "rgb"
    rgba = "rgba"
    grayscale = "grayscale"


ColorModeOpt = Annotated[
    ColorMode | None,
    typer.Option(
        "--color-mode",
        metavar="rgb|rgba|grayscale",
        help="The color_mode image folders are loaded with, as image_dataset_from_directory "
        "(default rgb: every image as 3 channels).",
    ),
]


class Compression(str, enum.Enum):
    auto = "auto"
    none = "none"
    gzip = "gzip"
    zlib = "zlib"


CompressionOpt = Annotated[
    Compression,
    typer.Option(
        "--compression",
        help="How TFRecord shards are compressed, as TFRecordDataset's compression_type "
        "(default auto: detected per shard).",
    ),
]


def _image_size(value: str | None) -> tuple[int, int] | None:
    """`--image-size 28x28` -> (28, 28), as image_size=(height, width)."""
    if value is None:
        return None
    height, sep, width = value.lower().partition("x")
    if not sep or not height.isdigit() or not width.isdigit() or not int(height) or not int(width):
        raise typer.BadParameter(f"{value!r} is not HxW, e.g. 224x224", param_hint="--image-size")
    return int(height), int(width)


def _options(
    *,
    x: list[str] | None,
    y: list[str] | None,
    y_file: str | None,
    batch_size: int | None,
    select: list[str] | None,
    ignore: list[str] | None,
    fail_on: FailOn,
    allow_pickle: bool,
    trust_model: bool,
    jobs: int | None,
    glob: list[str] | None,
    exclude: list[str] | None,
    file_timeout: float | None,
    scheduler: str | None,
    augment: str | None = None,
    draws: int = 8,
    image_size: str | None = None,
    color_mode: ColorMode | None = None,
    compression: Compression = Compression.auto,
    **sequences: Any,
) -> DiagnoseOptions:
    """The one option set diagnose and repair share, from their common flags (keyword-only:
    several are lists of strings, and a swapped position would pass type checks)."""
    return DiagnoseOptions(
        jobs=jobs,
        globs=tuple(glob or ()),
        excludes=tuple(exclude or ()),
        file_timeout=file_timeout,
        scheduler=scheduler,
        keys=KeyOptions(x=KeyOptions.parse(x), y=KeyOptions.parse(y)),
        y_file=y_file,
        batch_size=batch_size,
        select=_split(select),
        ignore=_split(ignore),
        fail_on=_FAIL_ON[fail_on],
        allow_pickle=allow_pickle,
        trust_model=trust_model,
        augment=augment,
        draws=draws,
        image_size=_image_size(image_size),
        color_mode=None if color_mode is None else color_mode.value,
        compression=None if compression is Compression.auto else compression.value,
        **sequences,
    )


@app.command(cls=_Command, epilog=_epilog("kerasfix diagnose model.keras data/ --fail-on warning"))
def diagnose(
    model: ModelArg,
    data: Annotated[
        list[str] | None,
        typer.Argument(metavar="DATA", help="Data files or folders (recursed, sorted)."),
    ] = None,
    x: XOpt = None,
    y: YOpt = None,
    y_file: YFileOpt = None,
    batch_size: BatchSizeOpt = None,
    output_format: Annotated[
        Format,
        typer.Option("--format", metavar="text|json|jsonl|github|sarif", help="Report format."),
    ] = Format.text,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    fail_on: FailOnOpt = FailOn.error,
    allow_pickle: AllowPickleOpt = False,
    trust_model: TrustModelOpt = False,
    jobs: JobsOpt = None,
    glob: GlobOpt = None,
    exclude: ExcludeOpt = None,
    file_timeout: FileTimeoutOpt = None,
    scheduler: SchedulerOpt = None,
    augment: AugmentOpt = None,
    draws: DrawsOpt = 8,
    image_size: ImageSizeOpt = None,
    color_mode: ColorModeOpt = None,
    compression: CompressionOpt = Compression.auto,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace/--no-trace",
            metavar="",
            help="For a length or size mismatch, ask Keras whether the model's input could be "
            "patched instead (imports TensorFlow); --no-trace keeps diagnose light.",
        ),
    ] = True,
    show_traceback: TracebackOpt = False,
) -> None:
    """Check DATA against MODEL's data contract and report findings; writes nothing."""
    options = _options(
        x=x,
        y=y,
        y_file=y_file,
        batch_size=batch_size,
        select=select,
        ignore=ignore,
        fail_on=fail_on,
        allow_pickle=allow_pickle,
        trust_model=trust_model,
        jobs=jobs,
        glob=glob,
        exclude=exclude,
        file_timeout=file_timeout,
        scheduler=scheduler,
        augment=augment,
        draws=draws,
        image_size=image_size,
        color_mode=color_mode,
        compression=compression,
        trace_model=trace,
    )

    def run() -> int:
        from kerasfix.report import RENDERERS
        from kerasfix.report.json_report import JsonlStream

        stream = None
        observers: list[api.RunObserver] = []
        if output_format is Format.jsonl:
            deferred = {os.path.realpath(y_file)} if y_file else set()
            stream = JsonlStream(sys.stdout, deferred)
            observers.append(stream)
        bar = _progress_bar()
        if bar is not None:
            observers.append(bar)
        try:
            diagnosis = api.run_diagnosis(
                model,
                list(data or []),
                options,
                _Observers(observers),
                keep_partial=True,
                keep_files=False,
            )
        finally:
            if bar is not None:
                bar.stop()
        report = diagnosis.report
        if stream is not None:
            stream.finish(report)
        else:
            sys.stdout.write(RENDERERS[output_format.value](report, _use_color()))
        if diagnosis.interrupted:
            _stderr(
                "interrupted: the report holds the files finished "
                f"({diagnosis.finished_files} of {diagnosis.total_files})"
            )
            return EXIT_INTERRUPTED
        return _exit_code(report, options.fail_on)

    _handle(run, show_traceback)


class _Observers:
    """Several observers as one (the jsonl stream and the progress bar)."""

    def __init__(self, observers: list[api.RunObserver]) -> None:
        self._observers = observers

    def started(self, total: int, model_result: Any, whole_run: bool) -> None:
        for observer in self._observers:
            observer.started(total, model_result, whole_run)

    def file_done(self, path: str, results: list[Any]) -> None:
        for observer in self._observers:
            observer.file_done(path, results)


def _progress_bar() -> Any:
    """rich's bar on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return None
    from kerasfix.report.progress import ProgressBar

    return ProgressBar(sys.stderr)


def _split(values: list[str] | None) -> tuple[str, ...]:
    """`--select KF1,KF3` and `--select KF1 --select KF3` mean the same."""
    return tuple(t.strip() for v in values or [] for t in v.split(",") if t.strip())


def _exit_code(report: Report, fail_on: Severity | None) -> int:
    worst = report.worst()
    if fail_on is not None and worst is not None and worst >= fail_on:
        return EXIT_FINDINGS
    return EXIT_OK


class Prefer(str, enum.Enum):
    data = "data"
    model = "model"


class Side(str, enum.Enum):
    pre = "pre"
    post = "post"


@app.command(
    cls=_Command,
    epilog=_epilog(
        "kerasfix repair model.keras data/ --out fixed/ --dry-run",
        "Exit codes: 0 nothing left to fix at or above --fail-on, outputs verified; 1 findings "
        "remain that no enabled repair fixes, or verification failed; 2 usage error, unreadable "
        "MODEL, or an output that cannot be written; 3 a kerasfix bug (rerun with --traceback); "
        "130 interrupted, nothing half-written left.",
    ),
)
def repair(
    model: ModelArg,
    out: Annotated[
        str, typer.Option("--out", metavar="DIR", help="Folder for the repaired files.")
    ],
    data: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DATA",
            help="Data files or folders (recursed, sorted); none: the model alone.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="Print the plan; write nothing.")
    ] = False,
    unsafe_fixes: Annotated[
        bool,
        typer.Option(
            "--unsafe-fixes", metavar="", help="Also apply fixes that lose or invent data."
        ),
    ] = False,
    verify_fit: Annotated[
        bool,
        typer.Option("--verify-fit", metavar="", help="Train one step on the repaired data (CPU)."),
    ] = False,
    changed_only: Annotated[
        bool,
        typer.Option(
            "--changed-only",
            metavar="",
            help="Write only the repaired files; by default --out also holds every unchanged "
            "DATA file (hard-linked, or copied across filesystems), ready to train from.",
        ),
    ] = False,
    prefer: Annotated[
        Prefer | None,
        typer.Option(
            "--prefer",
            metavar="data|model",
            help="Where a finding has both, take the data fix or the model patch "
            "(default: the lossless one).",
        ),
    ] = None,
    padding: Annotated[
        Side,
        typer.Option(
            "--padding", metavar="pre|post", help="Pad sequences at the front (pre) or end."
        ),
    ] = Side.pre,
    truncating: Annotated[
        Side,
        typer.Option(
            "--truncating", metavar="pre|post", help="Cut long sequences at the front (pre) or end."
        ),
    ] = Side.pre,
    pad_value: Annotated[
        float, typer.Option("--pad-value", metavar="VALUE", help="The padding value.")
    ] = 0.0,
    oov_id: Annotated[
        int | None,
        typer.Option(
            "--oov-id",
            metavar="ID",
            help="Map token ids an Embedding cannot look up (>= input_dim, or negative) to "
            "this id (unsafe).",
        ),
    ] = None,
    x: XOpt = None,
    y: YOpt = None,
    y_file: YFileOpt = None,
    batch_size: BatchSizeOpt = None,
    output_format: Annotated[
        ShortFormat, typer.Option("--format", metavar="text|json", help="text or json.")
    ] = ShortFormat.text,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    fail_on: FailOnOpt = FailOn.error,
    allow_pickle: AllowPickleOpt = False,
    trust_model: TrustModelOpt = False,
    jobs: JobsOpt = None,
    glob: GlobOpt = None,
    exclude: ExcludeOpt = None,
    file_timeout: FileTimeoutOpt = None,
    scheduler: SchedulerOpt = None,
    augment: AugmentOpt = None,
    draws: DrawsOpt = 8,
    image_size: ImageSizeOpt = None,
    color_mode: ColorModeOpt = None,
    compression: CompressionOpt = Compression.auto,
    show_traceback: TracebackOpt = False,
) -> None:
    """Write repaired copies of DATA into --out, with a manifest, and check them again."""
    from kerasfix.repair.plan import RepairOptions

    options = _options(
        x=x,
        y=y,
        y_file=y_file,
        batch_size=batch_size,
        select=select,
        ignore=ignore,
        fail_on=fail_on,
        allow_pickle=allow_pickle,
        trust_model=trust_model,
        jobs=jobs,
        glob=glob,
        exclude=exclude,
        file_timeout=file_timeout,
        scheduler=scheduler,
        augment=augment,
        draws=draws,
        image_size=image_size,
        color_mode=color_mode,
        compression=compression,
        pad_value=pad_value,
        padding=padding.value,
        truncating=truncating.value,
        oov_id=oov_id,
    )
    repair_options = RepairOptions(
        unsafe_fixes=unsafe_fixes,
        dry_run=dry_run,
        verify_fit=verify_fit,
        prefer=prefer.value if prefer is not None else None,
        changed_only=changed_only,
    )

    def repair_run(render: Any) -> int:
        diagnosis, plan = api.plan_repair(model, list(data or []), out, options, repair_options)
        as_json = output_format is ShortFormat.json
        if dry_run:
            text = (
                render.render_plan_json(plan, True)
                if as_json
                else render.render_plan_text(plan, True)
            )
            sys.stdout.write(text)
            left = [f for _, _, f in plan.unfixable] + [
                diagnosis_finding
                for diagnosis_finding in diagnosis.report.all_findings()
                if diagnosis_finding.code in _skipped_codes(plan)
            ]
            return _exit_for(left, diagnosis.report, options.fail_on)
        outcome = api.apply_repair(model, diagnosis, plan, options, repair_options)
        sys.stdout.write(
            render.render_outcome_json(outcome) if as_json else render.render_outcome_text(outcome)
        )
        if outcome.failed_claims or (outcome.fit is not None and outcome.fit["status"] == "fail"):
            return EXIT_FINDINGS
        left = [f for _, _, f in plan.unfixable]
        if outcome.verification is not None:
            left += outcome.verification.all_findings()
        left += [
            finding
            for finding in diagnosis.report.all_findings()
            if finding.code in _skipped_codes(plan)
        ]
        # The model's own findings that a verified model patch fixed are gone.
        fixed = {a.code for path, key, a in plan.model_actions if key is None}
        return _exit_for(left, diagnosis.report, options.fail_on, fixed)

    def run() -> int:
        from kerasfix.report import repair as render

        return repair_run(render)

    _handle(run, show_traceback)


def _skipped_codes(plan: Any) -> set[str]:
    """Codes whose fix was planned but not applied (unsafe, without --unsafe-fixes)."""
    codes = {a.code for f in plan.files for a in f.skipped}
    return codes | {a.code for _, _, a in plan.model_skipped}


_FAIL_ON = {FailOn.error: Severity.ERROR, FailOn.warning: Severity.WARNING, FailOn.never: None}


def _exit_for(
    left: list[Finding], report: Report, fail_on: Severity | None, fixed: set[str] | None = None
) -> int:
    """Repair's exit code: 1 while findings at or above --fail-on remain that no enabled
    repair fixes (the model's own findings included, but those a verified patch `fixed`)."""
    model_findings = [
        f
        for r in report.results
        if r.role == "model"
        for f in r.findings
        if f.code not in (fixed or set())
    ]
    worst = max((f.severity for f in [*left, *model_findings]), default=None)
    if fail_on is not None and worst is not None and worst >= fail_on:
        return EXIT_FINDINGS
    return EXIT_OK


MAX_LOG_BYTES = 16 * 1024 * 1024


@app.command(
    cls=_Command,
    epilog=_epilog(
        "kerasfix explain --log train.log",
        "Exit codes: 0 a rule explains it (or a rule's docs were shown); 1 no rule matches the "
        "text; 2 usage error; 3 a kerasfix bug (rerun with --traceback).",
    ),
)
def explain(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="CODE|TEXT|-",
            help="A rule code (KF101), an error text, or - to read the text from stdin.",
        ),
    ] = None,
    log: Annotated[
        str | None,
        typer.Option(
            "--log", metavar="FILE", help="A log or traceback file to search for the error."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="MODEL", help="Confirm with diagnose against this model."),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", metavar="DATA", help="Data to diagnose with --model (repeatable)."),
    ] = None,
    output_format: Annotated[
        ShortFormat, typer.Option("--format", metavar="text|json", help="text or json.")
    ] = ShortFormat.text,
    show_traceback: TracebackOpt = False,
) -> None:
    """Show a rule's documentation, or which rule explains a Keras/TensorFlow error."""

    def run() -> int:
        import re

        from kerasfix.checks import RULES
        from kerasfix.checks.catalog import ALL_CODES
        from kerasfix.errors import UsageError
        from kerasfix.explain import explain_text
        from kerasfix.report import explain as render
        from kerasfix.report.ruledocs import rule_page

        if target is not None and re.fullmatch(r"(?i)KF\d{3}", target.strip()):
            code = target.strip().upper()
            if code in RULES:
                sys.stdout.write(rule_page(RULES[code]))
                return EXIT_OK
            if code in ALL_CODES:
                sys.stdout.write(
                    f"# {code} {ALL_CODES[code]}\n\nNot checked by this version yet.\n"
                )
                return EXIT_OK
            raise UsageError(f"{code} is not a kerasfix rule (see `kerasfix rules`)")
        if log is not None:
            try:
                with open(log, "rb") as fh:
                    text = fh.read(MAX_LOG_BYTES).decode("utf-8", "replace")
            except OSError as exc:
                raise UsageError(f"--log {log}: {exc.strerror or exc}") from None
        elif target == "-":
            text = sys.stdin.read(MAX_LOG_BYTES)
        elif target is not None:
            text = target
        else:
            raise UsageError("give a rule code, an error text, - for stdin, or --log FILE")
        matches = explain_text(text)
        confirmed: dict[str, list[str]] | None = None
        if model is not None:
            from kerasfix.explain import confirm, first_layers

            report = api.diagnose(model, list(data or []), DiagnoseOptions(fail_on=None))
            confirmed = {}
            for result in report.results:
                for finding in result.findings:
                    where = result.path + (f"::{result.key}" if result.key else "")
                    confirmed.setdefault(finding.code, []).append(where)
            matches = confirm(matches, confirmed, first_layers(model))
        as_json = output_format is ShortFormat.json
        text_out = (
            render.render_matches_json(matches, confirmed)
            if as_json
            else render.render_matches_text(matches, confirmed)
        )
        sys.stdout.write(text_out)
        return EXIT_OK if matches else EXIT_FINDINGS

    _handle(run, show_traceback)


@app.command(
    cls=_Command,
    epilog=_epilog(
        "kerasfix inspect model.h5 --format json",
        "Exit codes: 0 the contract was shown; 2 the MODEL cannot be read; 3 a kerasfix bug "
        "(rerun with --traceback).",
    ),
)
def inspect(
    model: ModelArg,
    output_format: Annotated[
        ShortFormat, typer.Option("--format", metavar="text|json", help="text or json.")
    ] = ShortFormat.text,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace/--no-trace",
            metavar="",
            help="Show each layer's shapes as Keras builds the model (imports TensorFlow in a "
            "child process); --no-trace shows the contract alone.",
        ),
    ] = True,
    trust_model: TrustModelOpt = False,
    show_traceback: TracebackOpt = False,
) -> None:
    """Show MODEL's data contract: inputs, outputs, vocabulary sizes, loss, batch, and each
    layer's output shape."""

    def run() -> int:
        from kerasfix.report import contract

        found = api.inspect_model(model)
        options = DiagnoseOptions(trace_model=trace, trust_model=trust_model)
        layers, note = api.inspect_layers(found, options)
        render = contract.render_json if output_format is ShortFormat.json else contract.render_text
        sys.stdout.write(render(found, layers, note))
        return EXIT_OK

    _handle(run, show_traceback)


@app.command(
    cls=_Command,
    epilog=_epilog("kerasfix rules --format json", "Exit codes: 0 always; 2 usage error."),
)
def rules(
    output_format: Annotated[
        ShortFormat, typer.Option("--format", metavar="text|json", help="text or json.")
    ] = ShortFormat.text,
) -> None:
    """List every rule: code, name, severity and repair."""
    from kerasfix.report import rules as rules_report

    render = (
        rules_report.render_json if output_format is ShortFormat.json else rules_report.render_text
    )
    sys.stdout.write(render())


def main() -> None:
    app()
