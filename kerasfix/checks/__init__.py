"""The registry: every rule and every check, listed explicitly (no import magic)."""

from __future__ import annotations

from kerasfix.checks import kf0_read, kf1_shapes, kf3_batches
from kerasfix.checks.base import Check, GroupContext, InputContext, ModelContext, Rule

RULES: dict[str, type[Rule]] = {
    rule.code: rule for rule in (*kf0_read.RULES, *kf1_shapes.RULES, *kf3_batches.RULES)
}
CHECKS: tuple[Check, ...] = (*kf0_read.CHECKS, *kf1_shapes.CHECKS, *kf3_batches.CHECKS)

__all__ = ["CHECKS", "RULES", "Check", "GroupContext", "InputContext", "ModelContext", "Rule"]
