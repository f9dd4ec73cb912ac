"""Errors this Keras really raises on the fixtures, fed back to explain.

Every KF1xx-KF4xx positive fixture is trained with `fit`; where Keras 3 raises, explain must
name the fixture's rule. Where Keras trains silently, that is the case kerasfix exists for, and
the test records it instead.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerasfix.api import run_diagnosis
from kerasfix.explain import explain_text
from kerasfix.loaders.base import ArrayRef
from kerasfix.loaders.chunks import iter_chunks
from kerasfix.loaders.ragged import iter_sequences
from kerasfix.options import DiagnoseOptions
from tests.conftest import FIXTURES

pytestmark = pytest.mark.tensorflow

CASES = sorted(p for p in FIXTURES.glob("KF[1-4]*/positive") if not (p / "model.json").exists())
# Keras 3.15 raises on these; the others train silently (which is why kerasfix checks them).
MUST_RAISE = {
    "KF100",
    "KF103",
    "KF104",
    "KF107",
    "KF108",
    "KF201",
    "KF211",
    "KF212",
    "KF213",
    "KF214",
    "KF222",
    "KF301",
    "KF302",
    "KF303",
    "KF401",
    "KF402",
    "KF403",
}
# Token lists that are too long, or hold the pad value, reach Keras as Python lists: its error
# is about the lists, the same as for KF401, whose fix (pad_sequences to the input length) is
# where the user starts. explain can only say what the message says.
MESSAGE_RULE = {"KF402": "KF401", "KF403": "KF401"}


def _array(ref: ArrayRef) -> Any:
    if ref.ragged:
        return [list(map(int, s)) for _, chunk in iter_sequences(ref) for s in chunk]
    chunks = [c for _, c in iter_chunks(ref)]
    return np.concatenate(chunks) if chunks and chunks[0].ndim else chunks[0]


def _fit_error(folder: Path) -> str | None:
    import keras

    case = json.loads((folder / "case.json").read_text())
    args = case["args"]
    options = DiagnoseOptions(
        batch_size=int(args[args.index("--batch-size") + 1]) if "--batch-size" in args else None
    )
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        diagnosis = run_diagnosis(case["model"], case["data"], options)
        group = diagnosis.groups[0]
        x = {n: _array(r) for n, r in group.x.items()}
        y = {n: _array(r) for n, r in group.y.items()}
        keras.backend.clear_session()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(case["model"])
            optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
            model.compile(optimizer=optimizer, loss=model.loss)
            batch = diagnosis.contract.fixed_batch_size or 4
            try:
                model.fit(
                    next(iter(x.values())) if len(x) == 1 else x,
                    next(iter(y.values())) if len(y) == 1 else (y or None),
                    batch_size=batch,
                    epochs=1,
                    verbose=0,
                    shuffle=False,
                )
            except Exception as exc:  # what Keras raises is the point of the test
                return str(exc) or type(exc).__name__
        return None
    finally:
        os.chdir(cwd)


def test_errors_keras_raises_on_the_fixtures_are_explained() -> None:
    raised: dict[str, list[str]] = {}
    silent = []
    for folder in CASES:
        code = folder.parent.name
        text = _fit_error(folder)
        if text is None:
            silent.append(code)
            continue
        raised[code] = [m.code for m in explain_text(text)]
    assert set(raised) >= MUST_RAISE, f"Keras no longer raises on {MUST_RAISE - set(raised)}"
    wrong = {
        code: codes for code, codes in raised.items() if MESSAGE_RULE.get(code, code) not in codes
    }
    assert not wrong, f"explain missed the rule: {wrong}"
