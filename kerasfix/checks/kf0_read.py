"""KF0xx: input that cannot be read, and models that hold code."""

from __future__ import annotations

from collections.abc import Iterator

from kerasfix.checks.base import Check, ModelContext, Rule
from kerasfix.findings import Applicability, Finding, Severity
from kerasfix.model.contract import UnsafeLayer


class UnreadableData(Rule):
    """
    ## What it does
    Reports a DATA file that kerasfix cannot read: missing, empty, truncated, corrupt, of an
    unsupported format, or holding Python objects that only unpickling could read.
    In a TFRecord shard, each record whose framing CRC does not match, that is cut short, or
    that is not a `tf.train.Example` is its own KF001, naming the record's index and byte
    offset; the other records are still read (a damaged header is skipped to the next valid
    one). `repair --unsafe-fixes` drops such records and writes the rest of the shard.

    ## Why it matters
    `np.load` and `h5py` fail on such files with messages that rarely name the file, and a
    pickled object array runs code when it is loaded. One bad shard stops a whole training job.
    In a run over several files the others are still checked.

    ## Example
    `train.npz` holds `x` as `dtype=object` (lists of different lengths): kerasfix reports
    KF001 instead of unpickling it. Pass `--allow-pickle` only for files you trust.

    ## Fix safety
    No automatic fix: re-export the file, or pad ragged lists into a numeric array.
    """

    code = "KF001"
    name = "unreadable-data"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "a DATA file is corrupt, truncated, unsupported, or would need unpickling"

    @classmethod
    def for_reason(cls, reason: str) -> Finding:
        return cls.finding(
            what=f"cannot read this file: {reason}",
            why="an unreadable file stops training the moment it is loaded",
            fix="re-export the file from its source (np.save, h5py), or leave it out of DATA",
        )

    @classmethod
    def for_record(cls, index: int, offset: int, reason: str) -> Finding:
        """One record of a TFRecord shard that cannot be read; the others still are."""
        where = f" at byte offset {offset}" if offset >= 0 else ""
        return cls.finding(
            what=f"record {index}{where} cannot be read: {reason}; the other records were checked",
            why="TensorFlow stops the input pipeline at the first corrupt record "
            "(`DataLossError: corrupted record`), mid-epoch",
            fix="re-write the shard from its source; kerasfix repair --unsafe-fixes drops the "
            "unreadable records [unsafe]",
            applicability=Applicability.UNSAFE,
            record=index,
            offset=offset,
        )

    @classmethod
    def more_records(cls, count: int, listed: int) -> Finding:
        return cls.finding(
            what=f"{count - listed} more records cannot be read ({count} in all; the first "
            f"{listed} are listed)",
            why="TensorFlow stops the input pipeline at the first corrupt record",
            fix="re-write the shard from its source [no automatic fix]",
            received=count,
        )


class NoMatchingArray(Rule):
    """
    ## What it does
    Reports a data file none of whose arrays maps to a model input or a label. Inputs and
    labels are found by key: the first of `x, X, x_train, X_train, inputs, features` and
    `y, Y, y_train, labels, targets`, a key equal to the input's name, or `--x`/`--y`.
    For TFRecord shards, features play the part of arrays (`--x input=feature`, `--y feature`;
    `image`, `tokens`, `input_ids` and `label` are also tried); a feature the model reads that
    some records lack is reported with the count (`repair --unsafe-fixes` drops those records).

    ## Why it matters
    Without knowing which array is which, nothing can be checked; a typo in a key is also how
    the wrong array ends up in `fit`.

    ## Example
    `train.npz` holds `images` and `classes`: run
    `kerasfix diagnose model.keras train.npz --x images --y classes`.

    ## Fix safety
    No automatic fix: name the keys with `--x KEY` / `--x input_name=KEY` and `--y KEY`.
    """

    code = "KF002"
    name = "no-matching-array"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = "no array in the file maps to a model input or label"


class UnsafeModel(Rule):
    """
    ## What it does
    Reports a model whose config holds code or names code. An **error** where loading would
    run code that is neither Keras's nor the user's own: Python bytecode in a `Lambda`, a
    class or function from the standard library or another library that reaches the host
    (`os.system`, `eval`), Keras utilities that read or write files (`get_file`, `plot_model`,
    `enable_unsafe_deserialization`: code-reuse gadgets), `TFSMLayer` (a SavedModel program
    from a path), `TorchModuleWrapper`, and layer fields that name files (a lookup
    `vocabulary` path). A **warning** for custom classes and functions only the user's own
    registered code can supply (`MyPkg>Scale`, a Keras 2 custom layer), and a `Lambda`
    around a Keras built-in: kerasfix cannot see inside them. kerasfix reads the config as
    plain JSON and never imports or runs any of it.

    ## Why it matters
    A model file that runs code is a program, not data: Keras's `safe_mode` refuses some of
    it, older Keras versions none, and its deny-list has known bypasses. A CI gate must not
    pass such a file silently. Custom classes run only the code the user registered, but
    their shapes are unknown until it runs, so the checks of data against this model are
    limited to what the config declares.

    ## Example
    A `.keras` file with `Lambda(lambda t: t[:, :, :1])`: kerasfix reports KF003 as an error
    naming the layer, and still checks the data against the declared inputs. A layer
    registered as `@register_keras_serializable(package="MyPkg")` is a KF003 warning.

    ## Fix safety
    No fix: rebuild the layer from built-in Keras layers. Commands that must build the model
    refuse it unless `--trust-model` is given; `--ignore KF003` accepts a file you trust.
    """

    code = "KF003"
    name = "unsafe-model"
    severity = Severity.ERROR
    repair = "none"
    applicability = Applicability.NONE
    trigger = (
        "the model holds Lambda code, non-Keras modules or functions, gadgets, TFSMLayer or "
        "file paths (error), or custom classes kerasfix cannot see inside (warning): reported, "
        "never executed"
    )


def _listed(layers: list[UnsafeLayer]) -> str:
    listed = "; ".join(f"'{u.name}' ({u.class_name}): {u.reason}" for u in layers[:5])
    return listed + (f"; and {len(layers) - 5} more" if len(layers) > 5 else "")


def check_unsafe_model(ctx: ModelContext) -> Iterator[Finding]:
    unsafe = ctx.contract.unsafe_layers
    code = [u for u in unsafe if u.runs_code]
    custom = [u for u in unsafe if not u.runs_code]
    if code:
        yield UnsafeModel.finding(
            what=f"loading the model would run code from outside Keras ({len(code)} "
            f"object(s)): {_listed(code)}",
            why="a model that runs code when loaded is a program, not data; Keras's safe_mode "
            "refuses only some of it",
            fix="rebuild the layer from built-in Keras layers; for a file you trust, pass "
            "--trust-model where a command must build it, and --ignore KF003",
            received=[u.class_name for u in code],
        )
    if custom:
        yield UnsafeModel.finding(
            what=f"the model holds {len(custom)} custom object(s) kerasfix cannot see inside: "
            f"{_listed(custom)}",
            why="Keras loads them only where your code registers them, and kerasfix never "
            "imports your code, so what they do to shapes is not checked",
            fix="nothing to do if the code is yours; pass --trust-model where a command must "
            "build the model",
            severity=Severity.WARNING,
            received=[u.class_name for u in custom],
        )


CHECKS = (Check(rules=(UnsafeModel,), scope="model", run=check_unsafe_model),)
RULES = (UnreadableData, NoMatchingArray, UnsafeModel)
