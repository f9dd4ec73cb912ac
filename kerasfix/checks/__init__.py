"""The registry: every rule and every check, listed explicitly (no import magic)."""

from __future__ import annotations

from kerasfix.checks import (
    kf0_read,
    kf1_shapes,
    kf2_values,
    kf3_batches,
    kf4_sequences,
    kf5_augment,
    kf5_datasets,
    kf6_architecture,
    kf6_model,
    records,
)
from kerasfix.checks.base import Check, GroupContext, InputContext, ModelContext, Rule

_MODULES = (
    kf0_read,
    kf1_shapes,
    kf2_values,
    kf3_batches,
    kf4_sequences,
    kf5_augment,
    kf5_datasets,
    kf6_architecture,
    kf6_model,
    records,
)
RULES: dict[str, type[Rule]] = dict(
    sorted((rule.code, rule) for module in _MODULES for rule in module.RULES)
)
CHECKS: tuple[Check, ...] = tuple(check for module in _MODULES for check in module.CHECKS)

__all__ = ["CHECKS", "RULES", "Check", "GroupContext", "InputContext", "ModelContext", "Rule"]
