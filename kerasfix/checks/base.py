"""Rules (code, name, severity, docs) and the contexts checks read. Checks are pure: they
take already-loaded metadata and yield Findings; no I/O, no printing."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from kerasfix.checks.catalog import token_matches
from kerasfix.findings import Applicability, Finding, Severity
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.keys import Group
from kerasfix.model.architecture import ModelBuild
from kerasfix.model.contract import InputSpec, ModelContract
from kerasfix.options import DiagnoseOptions

DOC_SECTIONS = ("## What it does", "## Why it matters", "## Example", "## Fix safety")


class Rule:
    """A rule: subclasses set the class attributes; the docstring is the rule's documentation
    (`kerasfix explain CODE`, docs/rules/CODE.md), with the sections in DOC_SECTIONS."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    # RULES.md's repair column, e.g. "safe: expand_dims".
    repair: ClassVar[str]
    applicability: ClassVar[Applicability]
    trigger: ClassVar[str]
    # The causes a finding may name (id, what kerasfix sees, the fix), listed in its docs.
    causes: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def finding(
        cls,
        what: str,
        why: str,
        fix: str,
        *,
        severity: Severity | None = None,
        applicability: Applicability | None = None,
        expected: Any = None,
        received: Any = None,
        **details: Any,
    ) -> Finding:
        return Finding(
            code=cls.code,
            name=cls.name,
            severity=severity or cls.severity,
            what=what,
            why=why,
            fix=fix,
            applicability=applicability or cls.applicability,
            expected=expected,
            received=received,
            details=details,
        )

    @classmethod
    def matches(cls, token: str) -> bool:
        """`--select`/`--ignore`: a code, a code prefix (`KF1`, `KF10`) or a rule name."""
        return token_matches(token, cls.code, cls.name)


@dataclass(frozen=True)
class ModelContext:
    contract: ModelContract
    options: DiagnoseOptions
    # Keras's build of the architecture (KF601), where the run asked for one.
    build: ModelBuild | None = None


@dataclass(frozen=True)
class InputContext:
    """One array against the model input it feeds."""

    contract: ModelContract
    options: DiagnoseOptions
    array: ArrayRef
    input: InputSpec


@dataclass(frozen=True)
class GroupContext:
    """The arrays one training call takes together (x per input, y per output)."""

    contract: ModelContract
    options: DiagnoseOptions
    group: Group


@dataclass(frozen=True)
class Check:
    """A pure check, the rules it can report, and what it looks at."""

    rules: tuple[type[Rule], ...]
    scope: str  # "model", "input" or "group"
    run: Callable[[Any], Iterator[Finding]]
