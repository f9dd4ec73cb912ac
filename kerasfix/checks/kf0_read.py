"""KF0xx: input that cannot be read, and models that hold code."""

from __future__ import annotations

from collections.abc import Iterator

from kerasfix.checks.base import Check, ModelContext, Rule
from kerasfix.findings import Applicability, Finding, Severity


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
    Reports a model whose config holds code or references code: `Lambda` layers (bytecode or
    functions), `TFSMLayer`, `TorchModuleWrapper`, classes from modules outside Keras,
    unregistered custom layers, and lookup vocabularies that name files. kerasfix reads the
    config as plain JSON and never imports or runs any of it.

    ## Why it matters
    Loading such a model executes code from the file; Keras's `safe_mode` is a deny-list with
    known bypasses. Their shapes are also unknown until the code runs, so the checks of data
    against this model are limited to what the config declares.

    ## Example
    A `.keras` file with `Lambda(lambda t: t[:, :, :1])`: kerasfix reports KF003 naming the
    layer, and still checks the data against the declared inputs.

    ## Fix safety
    No fix. Commands that must build the model refuse it unless `--trust-model` is given.
    """

    code = "KF003"
    name = "unsafe-model"
    severity = Severity.WARNING
    repair = "none"
    applicability = Applicability.NONE
    trigger = "the model holds Lambda or unregistered custom layers: reported, never executed"


def check_unsafe_model(ctx: ModelContext) -> Iterator[Finding]:
    unsafe = ctx.contract.unsafe_layers
    if not unsafe:
        return
    listed = "; ".join(f"'{u.name}' ({u.class_name}): {u.reason}" for u in unsafe[:5])
    more = f"; and {len(unsafe) - 5} more" if len(unsafe) > 5 else ""
    yield UnsafeModel.finding(
        what=f"the model holds {len(unsafe)} layer(s) that need code to load: {listed}{more}",
        why="loading it runs code from the file, and its shapes are unknown until that runs",
        fix="rebuild the layer from built-in Keras layers, or pass --trust-model for a file "
        "you trust when a command must build the model",
        received=[u.class_name for u in unsafe],
    )


CHECKS = (Check(rules=(UnsafeModel,), scope="model", run=check_unsafe_model),)
RULES = (UnreadableData, NoMatchingArray, UnsafeModel)
