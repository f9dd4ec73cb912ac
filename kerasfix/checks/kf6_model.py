"""KF6xx: the model itself."""

from __future__ import annotations

from collections.abc import Iterator

from kerasfix.checks.base import Check, ModelContext, Rule
from kerasfix.checks.kf2_values import BINARY_LOSSES, CATEGORICAL_LOSSES, SPARSE_LOSSES
from kerasfix.findings import Applicability, Finding, Severity

PROBABILITY_ACTIVATIONS = frozenset({"softmax", "sigmoid"})
CROSSENTROPY = SPARSE_LOSSES | CATEGORICAL_LOSSES | BINARY_LOSSES


class LossOutputMismatch(Rule):
    """
    ## What it does
    Reports a loss that cannot fit the output it trains: a categorical loss on a one-unit
    output, a sparse categorical loss on one unit, a binary loss on a multi-unit softmax, and
    `from_logits` that disagrees with the output's activation.

    ## Why it matters
    Categorical cross-entropy over one unit is always zero (one softmax unit is always 1;
    a sigmoid unit is pushed to 1): the model trains without error and learns nothing. Logits
    fed to a loss that expects probabilities, or probabilities treated as logits, train
    slowly and badly without any message.

    ## Example
    `Dense(1, activation='sigmoid')` compiled with `loss='categorical_crossentropy'`.

    ## Fix safety
    Safe where the intent is clear: `binary_crossentropy` for a one-unit sigmoid. Otherwise no
    automatic fix.
    """

    code = "KF602"
    name = "loss-output-mismatch"
    severity = Severity.ERROR
    repair = "safe: patch the loss where the intent is clear"
    applicability = Applicability.NONE
    trigger = "the loss cannot fit the output layer"


def check_loss_fits_output(ctx: ModelContext) -> Iterator[Finding]:
    for out in ctx.contract.outputs:
        if out.loss is None or out.units is None:
            continue
        loss, units, activation = out.loss.name, out.units, out.activation
        where = f"output '{out.name}' ({units} unit{'s' if units != 1 else ''}, {activation})"
        if loss in CATEGORICAL_LOSSES and units == 1:
            clear = activation == "sigmoid"
            yield LossOutputMismatch.finding(
                what=f"{where} is trained with {loss}",
                why="categorical cross-entropy over one unit reaches zero loss at once: the "
                "model trains without an error and learns nothing",
                fix="use binary_crossentropy for one sigmoid unit [safe]"
                if clear
                else "give the output one unit per class with softmax [no automatic fix]",
                applicability=Applicability.SAFE if clear else Applicability.NONE,
                expected="binary_crossentropy" if clear else "units > 1",
                received=loss,
            )
        elif loss in SPARSE_LOSSES and units == 1:
            yield LossOutputMismatch.finding(
                what=f"{where} is trained with {loss}",
                why="a sparse categorical loss over one unit knows one class: any label but 0 "
                "is out of range, and all-0 labels teach nothing",
                fix="for two classes use Dense(1, 'sigmoid') with binary_crossentropy, or "
                "Dense(2, 'softmax') [no automatic fix]",
                expected="units > 1",
                received=loss,
            )
        elif loss in BINARY_LOSSES and units > 2 and activation == "softmax":
            # Two softmax units with one-hot labels: binary and categorical CE agree.
            yield LossOutputMismatch.finding(
                what=f"{where} is trained with {loss}",
                why="binary cross-entropy scores each unit on its own, but softmax makes the "
                "units compete: neither single-label nor multi-label training is right",
                fix="single-label: categorical_crossentropy; multi-label: a sigmoid output "
                "[no automatic fix]",
                expected="categorical_crossentropy or sigmoid",
                received=loss,
            )
        elif (
            loss in CROSSENTROPY and out.loss.from_logits and activation in PROBABILITY_ACTIVATIONS
        ):
            yield LossOutputMismatch.finding(
                what=f"{where} is trained with {loss}(from_logits=True)",
                why=f"the loss applies {activation} again to outputs that are already "
                "probabilities: gradients shrink and training stalls, without an error",
                fix=f"set from_logits=False, or remove the output's {activation} "
                "[no automatic fix]",
                severity=Severity.WARNING,
                expected="from_logits=False",
                received="from_logits=True",
            )
        elif (
            loss in CROSSENTROPY
            and not out.loss.from_logits
            and activation in ("linear", None)
            and out.layer_class != "signature"
        ):
            yield LossOutputMismatch.finding(
                what=f"{where} is trained with {loss} expecting probabilities",
                why="a linear output gives logits, which the loss clips into [0, 1]: "
                "training is slow and the scores meaningless, without an error",
                fix=f"compile with {loss}(from_logits=True), or add a softmax/sigmoid "
                "[no automatic fix]",
                severity=Severity.WARNING,
                expected="from_logits=True",
                received="from_logits=False",
            )


CHECKS = (Check(rules=(LossOutputMismatch,), scope="model", run=check_loss_fits_output),)
RULES = (LossOutputMismatch,)
