"""Rendering a repair: the plan (`--dry-run`) or what was written and verified."""

from __future__ import annotations

import json
import os
from typing import Any

from kerasfix import __version__
from kerasfix.repair.apply import MANIFEST, RepairOutcome
from kerasfix.repair.plan import RepairAction, RepairPlan


def _params(action: RepairAction) -> str:
    if action.action == "edit_architecture":  # a model edit reads best in words
        return f"{action.action}: {action.description}"
    inner = ", ".join(f"{k}={v!r}" for k, v in sorted(action.params.items()))
    return f"{action.action}({inner})"


def _lost(action: RepairAction) -> str:
    if not action.lost:
        return ""
    return "  lost: " + ", ".join(f"{k}={v}" for k, v in sorted(action.lost.items()))


def _where(path: str, key: str | None) -> str:
    return path + (f"::{key}" if key else "")


def render_plan_text(plan: RepairPlan, dry_run: bool) -> str:
    lines = [
        f"{'planned (dry run, nothing written)' if dry_run else 'repaired'} into {plan.out_dir}:"
    ]
    for file in plan.files:
        if file.actions:
            lines.append(f"  {file.path} -> {os.path.join(plan.out_dir, file.output)}")
            for action in file.actions:
                lines.append(
                    f"    {action.code} {_params(action)} [{action.applicability}]"
                    + (f" on {action.key}" if action.key else "")
                    + _lost(action)
                )
    if plan.model_actions:
        lines.append(f"  {plan.model_path} -> {os.path.join(plan.out_dir, plan.model_output)}")
        for path, key, action in plan.model_actions:
            lines.append(
                f"    {action.code} {_params(action)} [{action.applicability}]"
                + (f" (for {_where(path, key)})" if path != plan.model_path else "")
            )
    if not any(f.actions for f in plan.files) and not plan.model_actions:
        lines.append("  nothing to repair")
    skipped = [(f.path, a) for f in plan.files for a in f.skipped]
    skipped += [(path, a) for path, _, a in plan.model_skipped]
    if skipped:
        lines.append("skipped (unsafe: they lose or invent data; pass --unsafe-fixes):")
        for path, action in skipped:
            lines.append(
                f"  {_where(path, action.key)} {action.code} {_params(action)}{_lost(action)}"
            )
    if plan.unfixable:
        lines.append("not repaired (no automatic fix; see `kerasfix diagnose`):")
        for path, key, finding in plan.unfixable:
            lines.append(f"  {_where(path, key)} {finding.code} {finding.name}")
    return "\n".join(lines) + "\n"


def render_outcome_text(outcome: RepairOutcome) -> str:
    text = render_plan_text(outcome.plan, dry_run=False)
    lines = [text.rstrip("\n")]
    if outcome.failed_claims:
        lines.append("verification failed: repaired findings are still there:")
        for claim in outcome.failed_claims:
            lines.append(f"  {_where(claim['path'], claim['key'])} {claim['code']}")
    elif outcome.plan.applied:
        lines.append("verified: the outputs no longer show any repaired finding")
    if outcome.not_fitting:
        lines.append("failed: the repaired data still does not fit the model:")
        for left in outcome.not_fitting:
            lines.append(f"  {_where(left['path'], left['key'])} {left['code']} {left['name']}")
    if outcome.fit is not None:
        fit = outcome.fit
        if fit["status"] == "pass":
            lines.append(
                f"verify-fit: one training step on {fit['rows']} rows, loss {fit['loss']:.4g}"
            )
        elif fit["status"] == "fail":
            lines.append(f"verify-fit failed: {fit['error']}")
        else:
            lines.append(f"verify-fit skipped: {fit['reason']}")
    lines.extend(f"note: {note}" for note in outcome.notes)
    if outcome.plan.applied:
        lines.append(f"manifest: {os.path.join(outcome.plan.out_dir, MANIFEST)}")
    return "\n".join(lines) + "\n"


def render_plan_json(plan: RepairPlan, dry_run: bool) -> str:
    data: dict[str, Any] = {
        "schema_version": 1,
        "kerasfix_version": __version__,
        "dry_run": dry_run,
        "plan": plan.to_dict(),
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def render_outcome_json(outcome: RepairOutcome) -> str:
    return json.dumps(outcome.manifest, indent=2, sort_keys=True) + "\n"
