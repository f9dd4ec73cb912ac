"""Problems the user can fix: each becomes one line on stderr and exit code 2."""

from __future__ import annotations


class KerasfixError(Exception):
    """A user-facing problem: bad usage, or a MODEL that cannot be read (exit 2)."""

    exit_code = 2


class UsageError(KerasfixError):
    """Options that contradict each other or name things that do not exist."""


class ModelReadError(KerasfixError):
    """The MODEL path is missing, unreadable, or not a Keras model."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NoDataReadError(KerasfixError):
    """DATA was given but not one file of it could be read."""


class WriteError(KerasfixError):
    """An output cannot be written (disk full, permissions): inputs and earlier outputs are
    intact, and no partial file is left."""


class DataReadError(Exception):
    """One DATA file cannot be read; reported as KF001 for that file, never an abort."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
