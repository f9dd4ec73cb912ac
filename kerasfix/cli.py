"""The command line: parse options, call the library, render, exit with RULES.md's codes."""

from __future__ import annotations

import enum
import os
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, NoReturn

import typer

from kerasfix import __version__, api
from kerasfix.errors import KerasfixError
from kerasfix.findings import Report, Severity
from kerasfix.loaders.keys import KeyOptions
from kerasfix.options import DiagnoseOptions

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    name="kerasfix",
    help="Find and repair mismatches between a saved Keras model and its training data.",
    add_completion=False,
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
        code = action()
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


def _use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kerasfix {__version__}")
        raise typer.Exit()


TracebackOpt = Annotated[
    bool, typer.Option("--traceback", help="Show the traceback of an internal error.")
]


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Find and repair mismatches between a saved Keras model and its training data."""


@app.command()
def diagnose(
    model: Annotated[str, typer.Argument(help=".keras, .h5, architecture .json or SavedModel")],
    data: Annotated[
        list[str] | None, typer.Argument(help="Data files or folders (recursed, sorted).")
    ] = None,
    x: Annotated[
        list[str] | None,
        typer.Option("--x", help="Input array key, or input_name=key (repeatable)."),
    ] = None,
    y: Annotated[
        list[str] | None,
        typer.Option("--y", help="Label array key, or output_name=key (repeatable)."),
    ] = None,
    y_file: Annotated[
        str | None, typer.Option("--y-file", help="A separate file holding the labels.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="The batch size training will use.")
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.text,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Only these codes, prefixes or names.")
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Skip these codes, prefixes or names.")
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on findings at or above this severity.")
    ] = FailOn.error,
    allow_pickle: Annotated[
        bool, typer.Option("--allow-pickle", help="Allow unpickling object arrays (trusted files).")
    ] = False,
    trust_model: Annotated[
        bool, typer.Option("--trust-model", help="Allow running code the model holds.")
    ] = False,
    show_traceback: TracebackOpt = False,
) -> None:
    """Check DATA against MODEL's data contract and report findings; writes nothing."""
    options = DiagnoseOptions(
        keys=KeyOptions(x=KeyOptions.parse(x), y=KeyOptions.parse(y)),
        y_file=y_file,
        batch_size=batch_size,
        select=_split(select),
        ignore=_split(ignore),
        fail_on={
            FailOn.error: Severity.ERROR,
            FailOn.warning: Severity.WARNING,
            FailOn.never: None,
        }[fail_on],
        allow_pickle=allow_pickle,
        trust_model=trust_model,
    )

    def run() -> int:
        from kerasfix.report import RENDERERS

        report = api.diagnose(model, list(data or []), options)
        sys.stdout.write(RENDERERS[output_format.value](report, _use_color()))
        return _exit_code(report, options.fail_on)

    _handle(run, show_traceback)


def _split(values: list[str] | None) -> tuple[str, ...]:
    """`--select KF1,KF3` and `--select KF1 --select KF3` mean the same."""
    return tuple(t.strip() for v in values or [] for t in v.split(",") if t.strip())


def _exit_code(report: Report, fail_on: Severity | None) -> int:
    worst = report.worst()
    if fail_on is not None and worst is not None and worst >= fail_on:
        return EXIT_FINDINGS
    return EXIT_OK


@app.command()
def inspect(
    model: Annotated[str, typer.Argument(help=".keras, .h5, architecture .json or SavedModel")],
    output_format: Annotated[
        ShortFormat, typer.Option("--format", help="text or json.")
    ] = ShortFormat.text,
    show_traceback: TracebackOpt = False,
) -> None:
    """Show MODEL's data contract: inputs, outputs, vocabulary sizes, loss, batch."""

    def run() -> int:
        from kerasfix.report import contract

        found = api.inspect_model(model)
        render = contract.render_json if output_format is ShortFormat.json else contract.render_text
        sys.stdout.write(render(found))
        return EXIT_OK

    _handle(run, show_traceback)


@app.command()
def rules(
    output_format: Annotated[
        ShortFormat, typer.Option("--format", help="text or json.")
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
