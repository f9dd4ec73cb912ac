"""KF3xx: sample counts and batch sizes."""

from __future__ import annotations

from collections.abc import Iterator

from kerasfix.checks.base import Check, GroupContext, ModelContext, Rule
from kerasfix.findings import Applicability, Finding, Severity
from kerasfix.model.contract import format_shape
from kerasfix.options import DiagnoseOptions


class CardinalityMismatch(Rule):
    """
    ## What it does
    Reports inputs, labels or sample weights that one training call takes together but that
    hold different numbers of samples (their first axes differ).

    ## Why it matters
    Keras fails with `Data cardinality is ambiguous. Make sure all arrays contain the same
    number of samples. 'x' sizes: 8 'y' sizes: 6`, and only after the model has been built;
    a multi-input model may pair the wrong rows without a word where a pipeline trims silently.

    ## Example
    `train.npz` with `x` of 1000 rows and `y` of 999 after an off-by-one in a split.

    ## Fix safety
    Unsafe: truncating to the shortest drops samples, and is only right if the rows that
    remain still pair up; usually the export itself is wrong.
    """

    code = "KF301"
    name = "cardinality-mismatch"
    severity = Severity.ERROR
    repair = "unsafe: truncate to the shortest"
    applicability = Applicability.UNSAFE
    trigger = "inputs, labels or sample weights differ in sample count"


class BatchRemainder(Rule):
    """
    ## What it does
    Reports a sample count that the model's fixed batch size (a stateful RNN, or an input
    `batch_shape` with a number) does not divide, and a stateful model trained with batches
    of another size than its own. Without `--batch-size`, the batch size is the one `fit`
    uses when none is given (32), and the finding says so.

    ## Why it matters
    The last, partial batch breaks training: Keras 3 fails with the cryptic
    `Incompatible shapes: [2,16] vs. [4,16]`, Keras 2 with `In a stateful network, you should
    only pass inputs with a number of samples that can be divided by the batch size`. A
    stateful model keeps one state per batch row: `model.fit(x, y)` with its default
    `batch_size=32` fails the same way on a model built for batches of 4, even when 4
    divides the samples.

    ## Example
    A stateful `LSTM` with `batch_shape=(4, 10, 1)` and 10 samples; or 12 samples trained
    with `model.fit(x, y)` (batches of 32).

    ## Fix safety
    Unsafe for a stateful model: drop the remainder (samples are lost). Safe for a model that
    is not stateful: make its batch size None.
    """

    code = "KF302"
    name = "batch-remainder"
    severity = Severity.ERROR
    repair = "unsafe: drop the remainder; safe (non-stateful): patch the batch size to None"
    applicability = Applicability.UNSAFE
    trigger = "a fixed batch size does not divide the sample count"


class BatchLargerThanData(Rule):
    """
    ## What it does
    Reports a batch size (`--batch-size`, or the model's own fixed one) larger than the number
    of samples, where the model fixes its batch size; and, for any model, an array with no
    samples at all (its first axis is 0), an error whatever the batch size.

    ## Why it matters
    A fixed-batch model cannot take a smaller batch, so not one full batch exists: training
    fails on its first step. An empty array is worse: Keras 3's `fit` trains on nothing,
    warns only `Your input ran out of data; interrupting training`, and returns an empty
    history, so a pipeline that exported no rows goes on as if it had trained.

    ## Example
    A stateful model with `batch_shape=(64, 10, 1)` and a validation file of 50 samples; a
    `train.npz` whose `x` is `(0, 10)` after a filter that matched nothing.

    ## Fix safety
    No automatic fix: gather more samples, or use a smaller fixed batch size; for an empty
    array, fix the export that produced it.
    """

    code = "KF303"
    name = "batch-larger-than-data"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "--batch-size exceeds the samples and the batch size is fixed"


class FixedBatchSize(Rule):
    """
    ## What it does
    Reports a model that is not stateful but fixes its batch size in an input's
    `batch_shape` (Keras 2's `batch_input_shape`).

    ## Why it matters
    It works only as long as every batch has exactly that size: the last batch of an epoch,
    `validation_split`, `predict` on one sample and serving all break.

    ## Example
    `Input(batch_shape=(32, 10))` in a plain Dense model.

    ## Fix safety
    Safe: make the batch size None; no weight depends on it.
    """

    code = "KF304"
    name = "fixed-batch-size"
    severity = Severity.WARNING
    repair = "safe: patch the batch size to None"
    applicability = Applicability.SAFE
    trigger = "a non-stateful model fixes its batch size"


def check_fixed_batch_size(ctx: ModelContext) -> Iterator[Finding]:
    contract = ctx.contract
    if contract.stateful:
        return
    for inp in contract.inputs:
        if inp.batch_size is not None:
            yield FixedBatchSize.finding(
                what=f"input '{inp.name}' fixes batch_shape={format_shape(inp.batch_shape)} "
                "in a model with no stateful layer",
                why="every batch must then have exactly "
                f"{inp.batch_size} samples: the last batch, validation and predict break",
                fix="make the batch size None in the model's Input (kerasfix repair will patch "
                "it) [safe]",
                expected=[None, *inp.sample_shape],
                received=list(inp.batch_shape),
            )


def _counts(ctx: GroupContext) -> list[tuple[str, int]]:
    group, contract = ctx.group, ctx.contract
    counts: list[tuple[str, int]] = []
    for name, ref in group.x.items():
        inp = contract.input_named(name)
        # One sample without a batch axis has no sample count (KF108 says so).
        single = inp is not None and len(ref.shape) == len(inp.sample_shape) and not ref.ragged
        if ref.shape and not single:
            counts.append((_label(ref.key, "x"), ref.shape[0]))
    for ref in group.y.values():
        if ref.shape:
            counts.append((_label(ref.key, "y"), ref.shape[0]))
    if group.sample_weight is not None and group.sample_weight.shape:
        counts.append(
            (_label(group.sample_weight.key, "sample_weight"), group.sample_weight.shape[0])
        )
    return counts


def _label(key: str | None, default: str) -> str:
    return key or default


def check_cardinality(ctx: GroupContext) -> Iterator[Finding]:
    counts = _counts(ctx)
    if len({n for _, n in counts}) <= 1:
        return
    sizes = ", ".join(f"'{label}' sizes: {n}" for label, n in counts)
    shortest = min(n for _, n in counts)
    yield CardinalityMismatch.finding(
        what=f"arrays trained together hold different sample counts: {sizes}",
        why="Keras stops with 'Data cardinality is ambiguous'; rows no longer pair up",
        fix=f"re-export the arrays with matching rows, or truncate all to {shortest} samples "
        "if the first rows do pair up [unsafe]",
        expected=shortest,
        received={label: n for label, n in counts},
    )


def dividing_batch_sizes(samples: int, batch: int, count: int = 6) -> list[int]:
    """Batch sizes (2 to samples/2) that divide `samples`, the `count` nearest to `batch`."""
    divisors: set[int] = set()
    i = 1
    while i * i <= samples:
        if samples % i == 0:
            divisors.update((i, samples // i))
        i += 1
    usable = [d for d in divisors if 2 <= d <= samples // 2]
    return sorted(sorted(usable, key=lambda d: (abs(d - batch), d))[:count])


# The batch size `Model.fit` uses when it is given none.
FIT_DEFAULT_BATCH_SIZE = 32


def fit_batch_size(options: DiagnoseOptions) -> tuple[int, str]:
    """The batch size training will use, and how the finding names it: --batch-size, or
    what `fit` does without one (32), said as an assumption."""
    if options.batch_size is not None:
        return options.batch_size, f"--batch-size {options.batch_size}"
    return (
        FIT_DEFAULT_BATCH_SIZE,
        f"fit's default batch_size={FIT_DEFAULT_BATCH_SIZE} (assumed: no --batch-size given)",
    )


def check_batches(ctx: GroupContext) -> Iterator[Finding]:
    """A stateful RNN needs every batch full, and of its own size (an error otherwise); a
    model that only fixes `batch_shape` trains in Keras 3 with a partial last batch, but
    breaks in export, serving and Keras 2 (a warning, beside KF304)."""
    contract, options = ctx.contract, ctx.options
    fixed = contract.fixed_batch_size
    empty = [label for label, n in _counts(ctx) if n == 0]
    if empty:
        yield _no_samples(empty, ctx)
        return
    if fixed is None and not contract.stateful:
        return
    counts = [n for _, n in _counts(ctx)]
    if not counts:
        return
    samples = min(counts)
    fit_batch, fit_source = fit_batch_size(options)
    batch = fixed if fixed is not None else fit_batch
    severity = Severity.ERROR if contract.stateful else Severity.WARNING
    source = "the model's batch_shape" if fixed is not None else fit_source
    if contract.stateful and fixed is not None and fit_batch != fixed:
        yield _stateful_batch_mismatch(fixed, fit_batch, fit_source, samples)
    elif options.batch_size is not None and fixed is not None and options.batch_size != fixed:
        source = f"the model's batch_shape; --batch-size {options.batch_size} cannot apply"
    if batch > samples:
        yield BatchLargerThanData.finding(
            what=f"the fixed batch size {batch} ({source}) is larger than the {samples} samples",
            why="a fixed-batch model takes only full batches, and not one exists",
            fix="use more samples or a smaller batch size [no automatic fix]",
            severity=severity,
            expected=batch,
            received=samples,
        )
        return
    remainder = samples % batch
    if remainder == 0:
        return
    if contract.stateful and fixed is None:
        # The batch size is the training call's: any that divides the samples works.
        sizes = dividing_batch_sizes(samples, batch)
        options_text = (
            f"; or train with a batch size that divides {samples}: "
            + ", ".join(str(s) for s in sizes)
            + " (no sample lost)"
            if sizes
            else ""
        )
        fix = (
            f"drop the last {remainder} samples to keep {samples - remainder} "
            f"(x[:{samples - remainder}]) [unsafe]{options_text}"
        )
        applicability = Applicability.UNSAFE
    elif contract.stateful:
        sizes = dividing_batch_sizes(samples, batch)
        options_text = (
            f"; or rebuild the stateful model for a batch size that divides {samples}: "
            + ", ".join(str(s) for s in sizes)
            + " (no sample lost; the state then spans another number of sequences)"
            if sizes
            else ""
        )
        fix = (
            f"drop the last {remainder} samples to keep {samples - remainder} "
            f"(x[:{samples - remainder}]) [unsafe]{options_text}"
        )
        applicability = Applicability.UNSAFE
    else:
        fix = "make the model's batch size None (it has no stateful layer) [safe]"
        applicability = Applicability.SAFE
    yield BatchRemainder.finding(
        what=f"{samples} samples do not divide into batches of {batch} ({source}): "
        f"{remainder} left over",
        why=f"the last batch of {remainder} breaks a model that takes exactly {batch}",
        fix=fix,
        severity=severity,
        applicability=applicability,
        expected=batch,
        received=samples,
        remainder=remainder,
        dividing_batch_sizes=dividing_batch_sizes(samples, batch),
    )


def _no_samples(empty: list[str], ctx: GroupContext) -> Finding:
    """Arrays with 0 samples: `fit` on them trains on nothing, whatever the model."""
    batch = ctx.contract.fixed_batch_size or fit_batch_size(ctx.options)[0]
    names = ", ".join(f"'{label}'" for label in empty)
    return BatchLargerThanData.finding(
        what=f"{names} {'holds' if len(empty) == 1 else 'hold'} 0 samples: not one batch "
        "to train on",
        why="Keras's fit on an empty array trains on nothing and only warns 'Your input ran "
        "out of data'; the run looks like a training that happened",
        fix="re-export the data: the step that wrote it kept no rows [no automatic fix]",
        severity=Severity.ERROR,
        expected=batch,
        received=0,
        empty=empty,
    )


def _stateful_batch_mismatch(fixed: int, fit_batch: int, fit_source: str, samples: int) -> Finding:
    """A stateful model trained with batches of another size than its own: only its own
    size works (and only if it divides the samples)."""
    works = [fixed] if samples >= fixed and samples % fixed == 0 else []
    if works:
        fix = (
            f"train with model.fit(..., batch_size={fixed}) and check with --batch-size "
            f"{fixed}: the only batch size a model built for {fixed} takes "
            "[no automatic fix]"
        )
    else:
        fix = (
            f"train with model.fit(..., batch_size={fixed}) (check with --batch-size {fixed}: "
            f"{samples} samples do not divide into batches of {fixed}, see the batch sizes "
            "that do), or rebuild the stateful model for another batch size [no automatic fix]"
        )
    return BatchRemainder.finding(
        what=f"the stateful model takes batches of exactly {fixed} (its batch_shape); "
        f"{fit_source} feeds it batches of {fit_batch}",
        why=f"a stateful layer keeps one state per batch row, so every batch must hold "
        f"exactly {fixed} samples: training stops with 'Incompatible shapes'",
        fix=fix,
        severity=Severity.ERROR,
        applicability=Applicability.NONE,
        expected=fixed,
        received=fit_batch,
        fit_batch_size=fit_batch,
        assumed=fit_source.startswith("fit's default"),
        working_batch_sizes=works,
    )


CHECKS = (
    Check(rules=(FixedBatchSize,), scope="model", run=check_fixed_batch_size),
    Check(rules=(CardinalityMismatch,), scope="group", run=check_cardinality),
    Check(rules=(BatchRemainder, BatchLargerThanData), scope="group", run=check_batches),
)
RULES = (CardinalityMismatch, BatchRemainder, BatchLargerThanData, FixedBatchSize)
