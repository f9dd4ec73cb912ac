"""A progress bar on stderr for folder runs, drawn only when stderr is a terminal: scripts
and CI logs get nothing but the report on stdout."""

from __future__ import annotations

from typing import IO, Any

from kerasfix.findings import FileResult


class ProgressBar:
    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[path]}"),
            console=Console(file=stream),
            transient=True,
        )
        self._task: Any = None

    def started(self, total: int, model_result: FileResult | None, whole_run: bool) -> None:
        if total > 1:
            self._task = self._progress.add_task("checking", total=total, path="")
            self._progress.start()

    def file_done(self, path: str, results: list[FileResult]) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=1, path=path)

    def stop(self) -> None:
        if self._task is not None:
            self._progress.stop()
