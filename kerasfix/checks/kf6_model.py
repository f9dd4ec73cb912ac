"""KF6xx: the model itself."""

from __future__ import annotations

import re
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

    causes = (
        (
            "softmax-one-unit",
            "`Dense(1, activation='softmax')`, whatever the loss",
            "sigmoid for two classes, or one unit per class",
        ),
        (
            "categorical-one-unit",
            "categorical cross-entropy on one unit (always zero loss)",
            "binary_crossentropy for one sigmoid unit (safe loss patch)",
        ),
        (
            "sparse-one-unit",
            "sparse categorical cross-entropy on one unit",
            "Dense(1, 'sigmoid') with binary_crossentropy, or Dense(2, 'softmax')",
        ),
        (
            "binary-on-softmax",
            "binary cross-entropy on a softmax of more than two units",
            "categorical_crossentropy (one label), or a sigmoid output (several)",
        ),
        (
            "probabilities-as-logits",
            "a sigmoid/softmax output with a loss set `from_logits=True`",
            "`from_logits=False`, or no activation on the output",
        ),
        (
            "logits-as-probabilities",
            "a linear output with a cross-entropy that expects probabilities",
            "`from_logits=True`, or a softmax/sigmoid",
        ),
    )
    code = "KF602"
    name = "loss-output-mismatch"
    severity = Severity.ERROR
    repair = "safe: patch the loss where the intent is clear"
    applicability = Applicability.NONE
    trigger = "the loss cannot fit the output layer"


# A head after these gives one prediction per position of a feature map.
FEATURE_MAP_LAYERS = re.compile(
    r"^(Conv2D|SeparableConv2D|DepthwiseConv2D|Conv2DTranspose|(Max|Average)Pooling2D|"
    r"UpSampling2D|ZeroPadding2D|Cropping2D|BatchNormalization|Activation|Dropout|ReLU)$"
)


def check_loss_fits_output(ctx: ModelContext) -> Iterator[Finding]:
    for out in ctx.contract.outputs:
        where = f"output '{out.name}' ({out.units} unit{'s' if out.units != 1 else ''}, " + (
            f"{out.activation})"
        )
        if out.units == 1 and out.activation == "softmax":
            # Whatever the loss: softmax normalises over the units, and one unit is always 1.
            yield LossOutputMismatch.finding(
                what=f"{where}: a softmax over one unit always outputs 1.0",
                why="softmax makes the units of an output sum to 1; with one unit every "
                "prediction is 1.0, so the model cannot learn anything, without an error",
                fix="two classes: Dense(1, activation='sigmoid') with binary_crossentropy; k "
                "classes: Dense(k, activation='softmax') [no automatic fix]",
                expected="sigmoid, or units > 1",
                cause="softmax-one-unit",
                received="softmax over 1 unit",
            )
            continue
        if out.loss is None or out.units is None:
            continue
        loss, units, activation = out.loss.name, out.units, out.activation
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
                cause="categorical-one-unit",
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
                cause="sparse-one-unit",
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
                cause="binary-on-softmax",
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
                cause="probabilities-as-logits",
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
                cause="logits-as-probabilities",
                received="from_logits=False",
            )


CHECKS = (Check(rules=(LossOutputMismatch,), scope="model", run=check_loss_fits_output),)
RULES = (LossOutputMismatch,)
