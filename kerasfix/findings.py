"""The result records: Severity, Applicability, Finding, FileResult, Report."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int | None, ...]
# A data array's shape: every axis is known.
DataShape = tuple[int, ...]


class Severity(enum.IntEnum):
    """Ordered so that `--fail-on` compares with >=."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Applicability(str, enum.Enum):
    """How a repair may be applied (ruff's vocabulary)."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    NONE = "none"


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    what: str
    why: str
    fix: str
    applicability: Applicability
    expected: Any = None
    received: Any = None
    # Extra numbers a renderer or a repair planner may use (candidate shapes, counts, axes).
    details: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[str, str]:
        return (self.code, self.what)


@dataclass
class FileResult:
    """One array (or one file, or the model) and what was found about it."""

    path: str
    key: str | None = None
    role: str = "x"  # "x", "y", "file" (the file as a whole) or "model"
    input: str | None = None
    output: str | None = None
    shape: DataShape | None = None
    dtype: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # What the check assumed where the user did not say (how an image folder was read).
    notes: list[str] = field(default_factory=list)
    # Variable-length sequences: the shortest and longest, and one step's shape, where read
    # (the model may take some lengths and not others: KF601 for the data's shapes).
    steps: tuple[int, int, tuple[int, ...]] | None = None

    def sort_key(self) -> tuple[int, str, str]:
        return (0 if self.role == "model" else 1, self.path, self.key or "")


@dataclass
class Report:
    model_path: str
    model: dict[str, Any]
    results: list[FileResult]
    files: int
    readable_files: int
    # What the run could not check, and why (Keras unavailable, a model that holds code, no
    # DATA given): shown with the report so that it never reads as an all-clear for those.
    notes: list[str] = field(default_factory=list)
    # TFRecord runs: a summary per feature across every shard (kind, records, lengths, values).
    features: dict[str, Any] = field(default_factory=dict)
    # The severity at and above which the run fails (--fail-on; None: never): the status.
    fail_on: Severity | None = Severity.ERROR
    # Ctrl-C (or SIGTERM) stopped the run: the DATA files finished (their results are in
    # `results`) and those it did not reach. Such a report is never a pass.
    interrupted: bool = False
    finished: list[str] = field(default_factory=list)
    not_reached: list[str] = field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.all_findings() if f.severity == severity)

    def clean_files(self) -> int:
        """Data files none of whose arrays has a finding."""
        dirty = {r.path for r in self.results if r.findings and r.role != "model"}
        paths = {r.path for r in self.results if r.role != "model"}
        return len(paths - dirty)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.all_findings()), default=None)

    def sort(self) -> None:
        self.results.sort(key=FileResult.sort_key)
        for result in self.results:
            result.findings.sort(key=Finding.sort_key)
