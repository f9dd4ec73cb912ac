"""From a pasted Keras/TensorFlow error (or a whole log) to the rule that explains it.

Every catalogue pattern is searched in the text; values are pulled from its named groups
(shapes become lists, `?` and `None` become null); where the rule follows from the shapes, the
same shape rules `diagnose` uses decide it. A text about another kind of error matches nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from kerasfix.checks import RULES
from kerasfix.checks.base import InputContext
from kerasfix.checks.catalog import ALL_CODES
from kerasfix.checks.kf1_shapes import check_input_shape
from kerasfix.explain.catalog import CATALOGUE, Pattern
from kerasfix.loaders.base import ArrayRef
from kerasfix.model.architecture import ANSI
from kerasfix.model.contract import InputSpec, ModelContract, format_shape
from kerasfix.options import DiagnoseOptions

# The batch size assumed for a symbolic (None) batch axis in a message.
PLACEHOLDER_BATCH = 32
# Data repairs `kerasfix repair` plans for these codes.
REPAIRABLE = frozenset(
    {
        "KF101",
        "KF102",
        "KF103",
        "KF104",
        "KF105",
        "KF108",
        "KF212",
        "KF213",
        "KF214",
        "KF215",
        "KF221",
        "KF301",
        "KF302",
        "KF401",
        "KF402",
    }
)


@dataclass
class Match:
    code: str
    name: str
    confidence: float
    values: dict[str, Any]
    cause: str
    fix: str
    pattern: str
    versions: str
    position: int = 0
    also: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "confidence": round(self.confidence, 2),
            "values": self.values,
            "cause": self.cause,
            "fix": self.fix,
            "pattern": self.pattern,
            "versions": self.versions,
        }


def parse_shape(text: str) -> list[int | None]:
    inner = text.strip().strip("()[]")
    dims: list[int | None] = []
    for part in inner.split(","):
        part = part.strip()
        if not part:
            continue
        dims.append(None if part in ("?", "None", "-1") else int(part))
    return dims


def _values(match: re.Match[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in match.groupdict().items():
        if raw is None:
            continue
        if raw.startswith("(") or name in ("found", "expected", "target", "output"):
            values[name] = parse_shape(raw)
        elif name.endswith("_sizes"):
            values[name] = [int(x) for x in re.findall(r"\d+", raw)]
        elif re.fullmatch(r"-?\d+", raw):
            values[name] = int(raw)
        elif re.fullmatch(r"[\d, ]+", raw):
            values[name] = [int(x) for x in raw.replace(" ", "").split(",") if x]
        else:
            values[name] = raw
    return values


def _classify_input(values: dict[str, Any], sample_shapes: bool) -> tuple[str | None, str]:
    expected = list(values.get("expected", []))
    found = list(values.get("found", []))
    if not expected or not found:
        return None, ""
    if sample_shapes:  # Keras 2 prints both shapes without the batch axis
        expected, found = [None, *expected], [None, *found]
    elif expected[0] is not None:  # a bare sample shape for the model: add the batch axis
        expected = [None, *expected]
    data = [PLACEHOLDER_BATCH if (i == 0 and d is None) else d for i, d in enumerate(found)]
    if any(d is None for d in data):
        # A symbolic axis in the message: take the expected size there, if ranks agree.
        if len(data) != len(expected):
            return "KF100", "the shapes differ in rank and size"
        data = [e if d is None else d for d, e in zip(data, expected, strict=True)]
        data = [PLACEHOLDER_BATCH if d is None else d for d in data]
    inp = InputSpec("input", tuple(expected), "float32")
    contract = ModelContract("model", "keras", (inp,), ())
    ref = ArrayRef("data", None, tuple(int(d) for d in data), "float32", "f")
    findings = list(check_input_shape(InputContext(contract, DiagnoseOptions(), ref, inp)))
    if not findings:
        return None, ""
    first = findings[0]
    return first.code, (
        f"the model expects {format_shape(tuple(expected))}, the data has "
        f"{format_shape(tuple(found))}: {RULES[first.code].trigger}"
    )


def _classify(pattern: Pattern, values: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(code, cause, confidence) for what the values say."""
    kind = pattern.classify
    c = pattern.confidence
    if kind == "input":
        code, cause = _classify_input(values, pattern.sample_shapes)
        if not code:
            return []
        results = [(code, cause, c)]
        layer = str(values.get("layer") or "")
        if values.get("named") and layer and not MODEL_NAMES.fullmatch(layer):
            # Keras 3 checks a model's own inputs with "Invalid input shape"; a named model
            # input spec of another layer is a model nested inside, fed by the layer before.
            results = [
                (
                    "KF601",
                    f"'{layer}' is a model nested inside another: the layer before it gives "
                    f"{values.get('found')} where it takes {values.get('expected')}",
                    c,
                ),
                (code, f"or the data, if '{layer}' is the model itself: {cause}", c * 0.7),
            ]
        expected = values.get("expected", [])
        if code == "KF107" and len(expected) - (0 if expected[:1] == [None] else -1) == 2:
            # One axis per sample: features, or the token length of an Embedding input.
            results.append(("KF105", "or, for token ids, a sequence length", c * 0.6))
        return results
    if kind == "rank":
        # Texts that name a layer may be about the model's door or its inside; Keras 2's
        # "Error when checking input" and TensorFlow's "rank at least" are the door's.
        places = {"tf-op-rank": "op", "input-spec-ndim": "layer", "keras2-input-spec-ndim": "layer"}
        return _classify_rank(values, c, places.get(pattern.id, "door"))
    if kind == "window":
        return [
            (
                "KF601",
                "a convolution or pooling receives less than its window: the layers before it "
                "shrank the input below zero (padding='same', one pooling fewer, or larger "
                "inputs)",
                c,
            ),
            ("KF106", "or images smaller than the size the model was built for", c * 0.6),
        ]
    if kind == "reshape":
        inner = (
            "KF601",
            "a Reshape (or Flatten) inside the model gets another number of values than it "
            "was built for",
            c,
        )
        if pattern.id in ("tf-cannot-reshape", "tf-reshape-values") and not re.search(
            r"reshape/Reshape|decoder|while", str(values.get("op")), re.I
        ):
            # At run time this is most often an image size that changed before a Flatten;
            # a Reshape layer's own op, or one deep in a decoder or loop, is inside.
            return [
                ("KF106", "the data's image size differs from the one the model was built for", c),
                (inner[0], inner[1], c * 0.9),
            ]
        return [inner]
    if kind == "merge":
        return [
            (
                "KF601",
                "a merge layer (Concatenate, Add, ...) joins branches whose shapes differ",
                c,
            ),
            ("KF105", "or inputs of different lengths for a model that joins them", c * 0.5),
        ]
    if kind == "matmul":
        boundary: tuple[str, str] = (
            "KF107",
            "the data's feature count differs from what the Dense layer takes",
        )
        inside: tuple[str, str] = (
            "KF601",
            "a layer inside the model gets another size than its weights were built for (an "
            "image size that changed before a Flatten, a recurrent or attention cell)",
        )
        # A bare MatMul, or a first Dense's: the data's features. One nested in cells or
        # loops, a numbered op, or a run-time kernel mismatch: inside the model.
        nested = bool(re.search(r"while|cell|rnn|attention|MatMul_\d", str(values.get("op")), re.I))
        first, second = (inside, boundary) if nested or "rows" in values else (boundary, inside)
        return [(first[0], first[1], c), (second[0], second[1], c * 0.85)]
    if kind == "first_dim":
        logits, labels = values.get("logits") or [], values.get("labels") or []
        logits = logits if isinstance(logits, list) else [logits]
        labels = labels if isinstance(labels, list) else [labels]
        if not logits or not labels:
            return []
        per_logit, per_label = logits[0], labels[0]
        if len(logits) == 2 and len(labels) == 1 and per_label == per_logit * logits[1] > 0:
            # Labels of rows x classes values: one-hot rows flattened by a sparse loss.
            return [
                (
                    "KF213",
                    f"{per_label} labels for {per_logit} predictions of {logits[1]} classes: "
                    "one-hot labels given to a sparse categorical loss",
                    c,
                ),
                ("KF215", "or labels that hold one value per step", c * 0.7),
            ]
        if per_logit > per_label and per_logit % per_label == 0:
            steps = per_logit // per_label
            return [
                (
                    "KF602",
                    f"the output gives {steps} predictions per sample (one per time step, or "
                    "per position) while the labels hold one value per sample: "
                    "return_sequences=False, or pooling/Flatten before the head",
                    c,
                ),
                ("KF215", "or labels that should hold one value per step", c * 0.8),
            ]
        if per_label > per_logit and per_label % per_logit == 0:
            return [
                (
                    "KF215",
                    f"the labels hold {per_label // per_logit} values per sample, the output "
                    "one prediction: labels per step against one output per sample",
                    c,
                )
            ]
        return [("KF215", "labels and predictions do not pair up", c * 0.8)]
    if kind == "index":
        index, dim = values.get("index"), values.get("input_dim")
        where = values.get("position")
        if not isinstance(index, int):
            return []
        if index < 0:
            return [("KF202", f"token id {index} at indices[{where}] is negative", c)]
        return [
            (
                "KF201",
                f"token id {index} at indices[{where}] is not below the Embedding's "
                f"input_dim {dim}",
                c,
            )
        ]
    if kind == "label":
        label, units = values.get("label"), values.get("units")
        if not isinstance(label, int) or not isinstance(units, int):
            return []
        found = [
            ("KF211", f"label {label} is outside the output's {units} classes [0, {units})", c)
        ]
        if label == units:
            found.append(
                ("KF212", f"label {units} with {units} units: classes may be numbered from 1", 0.5)
            )
        return found
    if kind == "target":
        target, output = values.get("target", []), values.get("output", [])
        if not target or not output:
            return []
        cause = f"labels {format_shape(tuple(target))} against output {format_shape(tuple(output))}"
        units = output[-1]
        integer_like = len(target) < len(output) or (target[-1] == 1 and len(target) == len(output))
        if isinstance(units, int) and units > 1 and integer_like:
            return [("KF214", cause + ": class ids where one-hot rows are expected", c)]
        return [("KF215", cause + ": the label shape cannot match the output", c * 0.9)]
    if kind == "object":
        if values.get("type") == "list":
            return [("KF401", "the data holds Python lists of different lengths", c)]
        return [("KF222", f"the data holds Python {values.get('type')} objects", c)]
    if kind == "batch":
        a, b = values.get("received"), values.get("batch_size")
        if not (isinstance(a, int) and isinstance(b, int)) or a == b:
            return []
        if values.get("rest_a") != values.get("rest_b"):
            return []
        small, large = min(a, b), max(a, b)
        return [
            ("KF302", f"a batch of {small} where the model takes exactly {large}", c),
            ("KF303", f"or a fixed batch of {large} larger than the {small} samples", c * 0.75),
        ]
    if kind == "dtype":
        dtype = str(values.get("dtype", ""))
        if dtype == "object":
            return [
                ("KF401", "an object array: Python lists of different lengths", c * 0.7),
                ("KF222", "an object array: strings or other Python objects", c * 0.6),
            ]
        return [("KF222", f"the data has dtype {dtype}: text where numbers are needed", c)]
    assert pattern.code is not None
    found = [(pattern.code, RULES[pattern.code].trigger if pattern.code in RULES else "", c)]
    if pattern.id == "input-spec-axis":
        # Keras 3 checks few inputs at the model's door: a length or an image size that changed
        # upstream of a Flatten shows up here, at the Dense after it.
        found.append(("KF105", "or a sequence length changed before a Flatten", c * 0.7))
        found.append(("KF106", "or an image size changed before a Flatten", c * 0.65))
    sizes = [*values.get("x_sizes", []), *values.get("y_sizes", [])]
    if pattern.code == "KF301" and 1 in sizes:
        # A side of one "sample": often one sample given without its batch axis.
        found.append(("KF108", "one side holds a single sample: a missing batch axis?", 0.5))
    return found


# ANSI escapes as pastes leave them: written out (a repr, a notebook's JSON) or with the escape
# character lost ("[1m").
PASTED_ANSI = re.compile(r"(?:\\x1b|\\u001b|\\033|\^\[)?\[[0-9;]{1,8}m")

# Layer names of a model as a whole: the text is about the model's inputs.
MODEL_NAMES = re.compile(r"(sequential|functional|model)(_\d+)?")


def _classify_rank(values: dict[str, Any], c: float, where: str) -> list[tuple[str, str, float]]:
    """A layer that gets the wrong number of axes: at the model's door (the data, KF1xx) or
    inside (the layer before it, KF601). Which one depends on the layer the text names."""
    want = values.get("expected_ndim")
    found = values.get("found")
    got = len(found) if isinstance(found, list) else values.get("found_ndim")
    if not isinstance(want, int) or not isinstance(got, int):
        return []
    cause = f"the layer takes ndim={want}, the data has ndim={got}"
    if got == want - 1:
        boundary = ("KF101", cause + ": an axis is missing (often a size-1 feature axis)", c)
    elif got == want + 1:
        boundary = ("KF102", cause + ": one axis too many", c * 0.9)
    else:
        boundary = ("KF100", cause, c * 0.8)
    layer = str(values.get("layer") or "")
    base = layer.split("/")[0]
    named = str(values.get("named") or "")
    if where == "door" or not layer or MODEL_NAMES.fullmatch(base):
        return [boundary]
    if named and "'None'" not in named:
        # Keras 3 names the InputSpec of a model's input ("with name 'x'"): the door.
        return [boundary, ("KF601", f"if '{base}' sits inside the model", boundary[2] * 0.7)]
    inner_cause = (
        f"if '{base}' follows another layer inside the model: that layer gives ndim={got} where "
        f"'{base}' takes ndim={want}"
        + (
            " (an LSTM/GRU without return_sequences=True before it, a Flatten or Dense before "
            "a recurrent or Conv1D layer)"
            if got < want
            else ""
        )
    )
    boundary = (
        boundary[0],
        f"if '{base}' is the model's first layer: " + boundary[1],
        boundary[2],
    )
    # Keras 3 checks a built model's inputs at its door ("Invalid input shape"): a text that
    # names a layer comes from building the model, or from a model without an Input. A
    # numbered name (lstm_1) is a second layer of its kind: not the first of the model.
    # Keras 1-2 checked data at the model's door ("Error when checking input"): their
    # "Input 0 is incompatible with layer X" comes from building the model.
    inner_first = (
        where == "op"
        or bool(named)
        or bool(values.get("keras2"))
        or bool(re.search(r"_\d+$", base))
    )
    if inner_first:
        return [("KF601", inner_cause, c), (boundary[0], boundary[1], boundary[2] * 0.8)]
    return [boundary, ("KF601", inner_cause, boundary[2] * 0.8)]


def confirm(
    matches: list[Match], confirmed: dict[str, list[str]], first_layers: dict[str, bool]
) -> list[Match]:
    """With --model: the rules diagnose confirmed go first; a text naming a layer is about
    the data (KF1xx) when that layer reads the model's input, and about the architecture
    (KF601) when it sits inside (`first_layers`: layer name -> reads an input)."""

    def rank(match: Match) -> tuple[int, float, int, str]:
        boost = 0 if match.code in confirmed else 2
        layer = str(match.values.get("layer") or "").split("/")[0]
        if layer in first_layers:
            inner = not first_layers[layer]
            if (match.code == "KF601" and inner) or (match.code[:3] == "KF1" and not inner):
                boost -= 1
        return (boost, -match.confidence, match.position, match.code)

    return sorted(matches, key=rank)


def first_layers(model_path: str) -> dict[str, bool]:
    """Every layer of the model's architecture: whether it reads a model input directly
    (read from the saved config, without Keras; empty for a SavedModel)."""
    from kerasfix.model.architecture import layer_graph
    from kerasfix.model.patch import architecture, read_saved_config

    if os.path.isdir(model_path):
        return {}
    graph = layer_graph(architecture(read_saved_config(model_path)))
    return {
        name: all(graph[p].class_name == "InputLayer" for p in node.parents if p in graph)
        for name, node in graph.items()
        if node.class_name != "InputLayer"
    }


def _fix(code: str) -> str:
    if code.startswith("KF6"):
        return (
            "kerasfix diagnose MODEL (builds the architecture with Keras, names the layer "
            "that breaks and the change that fixes it)"
        )
    steps = "kerasfix diagnose MODEL DATA (finds the file, the array and the fix)"
    if code in REPAIRABLE:
        steps += "; then kerasfix repair MODEL DATA --out fixed/ --dry-run"
    return steps


def explain_text(text: str) -> list[Match]:
    """Every rule the text points to, most confident first (ties: earliest in the text)."""
    # Keras 3 prints its messages in bold; pasted, the escape is often lost or written out.
    text = PASTED_ANSI.sub("", ANSI.sub("", text))
    found: dict[str, Match] = {}
    for pattern in CATALOGUE:
        if pattern.context is not None and not re.search(pattern.context, text):
            continue
        for match in re.finditer(pattern.regex, text, re.S):
            try:
                values = _values(match)
            except ValueError:  # a group that only looked like a number or a shape
                continue
            for code, cause, confidence in _classify(pattern, values):
                name = RULES[code].name if code in RULES else ALL_CODES.get(code, "")
                candidate = Match(
                    code=code,
                    name=name,
                    confidence=confidence,
                    # "named": which wording the text uses, not a value the user needs.
                    values={k: v for k, v in values.items() if k != "named"},
                    cause=cause,
                    fix=_fix(code),
                    pattern=pattern.id,
                    versions=pattern.versions,
                    position=match.start(),
                )
                seen = found.get(code)
                if seen is None or candidate.confidence > seen.confidence:
                    found[code] = candidate
    return sorted(found.values(), key=lambda m: (-m.confidence, m.position, m.code))
