"""explain on real texts of faults inside a model, collected from public issues (with their
source, in inner_layer_texts.json): KF601/KF602 first where the text says enough, KF601 at
least listed where only the model can tell (then `--model` decides)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kerasfix.explain import explain_text

TEXTS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "inner_layer_texts.json").read_text()
)["texts"]


def test_the_collection_spans_every_family_and_version() -> None:
    assert len(TEXTS) >= 40
    assert len({t["family"] for t in TEXTS}) == 12
    assert {"Keras 3", "tf.keras 2.x", "Keras 2.x", "TensorFlow 1.x"} <= {
        t["versions"] for t in TEXTS
    }
    assert all(t["source"] for t in TEXTS)


@pytest.mark.parametrize("entry", TEXTS, ids=[f"{t['family']}-{i}" for i, t in enumerate(TEXTS)])
def test_explain_names_the_architecture_for_inner_layer_faults(entry: dict[str, Any]) -> None:
    codes = [m.code for m in explain_text(entry["text"])]
    expect = entry["expect"]
    if "first" in expect:
        assert codes and codes[0] in expect["first"], codes
    elif "listed" in expect:
        assert expect["listed"] in codes, codes
    elif "unclaimed" in expect:
        assert codes == []
    else:
        assert codes, "a text of this kind is explained"


def test_inner_layer_faults_mostly_put_kf601_first() -> None:
    """85 % or more of the inner-layer texts say enough for KF601/KF602 to go first."""
    inner = [t for t in TEXTS if t["inner_layer"]]
    first = [t for t in inner if "first" in t["expect"]]
    assert len(first) / len(inner) >= 0.85
