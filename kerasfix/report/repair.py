"""Rendering a repair: the plan (`--dry-run`) or what was written and verified."""

from __future__ import annotations

import json
import os
from typing import Any

from kerasfix import __version__
from kerasfix.repair.apply import MANIFEST, RepairOutcome
from kerasfix.repair.plan import FilePlan, RepairAction, RepairPlan


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


def _file_lines(plan: RepairPlan, file: FilePlan) -> list[str]:
    lines = [f"  {file.path} -> {os.path.join(plan.out_dir, file.output)}"]
    for action in file.actions:
        lines.append(
            f"    {action.code} {_params(action)} [{action.applicability}]"
            + (f" on {action.key}" if action.key else "")
            + _lost(action)
        )
    return lines


def render_plan_text(
    plan: RepairPlan, dry_run: bool, carried: list[dict[str, Any]] | None = None
) -> str:
    """The plan (`--dry-run`), or with `carried` (the manifest's entries) what was done: the
    files written, those an earlier run had already got right (kept), those carried."""
    written = [f for f in plan.files if f.actions and not f.kept]
    kept = [f for f in plan.files if f.actions and f.kept]
    lines = []
    if written or plan.model_actions or not kept:
        lines.append(
            f"{'planned (dry run, nothing written)' if dry_run else 'repaired'} into "
            f"{plan.out_dir}:"
        )
    for file in written:
        lines.extend(_file_lines(plan, file))
    if kept:
        lines.append(f"kept in {plan.out_dir} (an earlier run's output, still right):")
        for file in kept:
            lines.extend(_file_lines(plan, file))
    if plan.model_actions:
        lines.append(f"  {plan.model_path} -> {os.path.join(plan.out_dir, plan.model_output)}")
        for path, key, action in plan.model_actions:
            lines.append(
                f"    {action.code} {_params(action)} [{action.applicability}]"
                + (f" (for {_where(path, key)})" if path != plan.model_path else "")
            )
    if not any(f.actions for f in plan.files) and not plan.model_actions:
        lines.append("  nothing to repair")
    lines.extend(_carried_lines(plan, dry_run, carried))
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


# Carried files listed one by one up to this many; the manifest lists them all.
CARRIED_SHOWN = 10


def _carried_lines(
    plan: RepairPlan, dry_run: bool, carried: list[dict[str, Any]] | None
) -> list[str]:
    if not plan.carried:
        return []
    if dry_run or carried is None:
        head = (
            f"would carry {_count(len(plan.carried), 'unchanged DATA file')} into "
            f"{plan.out_dir} (hard links, or copies across filesystems):"
        )
        items = [(c.path, c.output, "") for c in plan.carried]
    else:
        kinds = {"hardlink": "hard-linked", "copy": "copied"}
        done = [e for e in carried if "not_carried" not in e]
        how = [
            f"{sum(1 for e in done if not e.get('kept') and e.get('how') == k)} {word}"
            for k, word in kinds.items()
        ]
        folders = sum(1 for e in done if e.get("format") == "images" and not e.get("kept"))
        how = [h for h in how if not h.startswith("0 ")] + (
            [f"{folders} image folder{'s' if folders != 1 else ''}"] if folders else []
        )
        kept = sum(1 for e in done if e.get("kept"))
        if kept:
            how.append(f"{kept} kept")
        head = (
            f"carried {_count(len(done), 'unchanged DATA file')} into {plan.out_dir}"
            + (f" ({', '.join(how)})" if how else "")
            + ":"
        )
        items = [
            (str(e["input"]), str(e["output"]), " kept" if e.get("kept") else "") for e in done
        ]
    lines = [head]
    for path, output, note in items[:CARRIED_SHOWN]:
        lines.append(f"  {path} -> {os.path.join(plan.out_dir, output)}{note}")
    if len(items) > CARRIED_SHOWN:
        lines.append(f"  ... and {len(items) - CARRIED_SHOWN} more (all in the manifest)")
    if carried is not None:
        for entry in (e for e in carried if "not_carried" in e):
            lines.append(f"not carried: {entry['input']}: {entry['not_carried']}")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_outcome_text(outcome: RepairOutcome) -> str:
    text = render_plan_text(outcome.plan, dry_run=False, carried=outcome.manifest["carried"])
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
