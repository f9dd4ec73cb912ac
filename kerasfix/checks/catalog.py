"""Every code RULES.md defines, implemented or not: `--select`/`--ignore` accept them all, so a
CI configuration written against the contract keeps working as rules land. Codes are never
renumbered or reused; a test checks this table against RULES.md."""

from __future__ import annotations

ALL_CODES: dict[str, str] = {
    "KF001": "unreadable-data",
    "KF002": "no-matching-array",
    "KF003": "unsafe-model",
    "KF100": "shape-mismatch",
    "KF101": "missing-axis",
    "KF102": "extra-axis",
    "KF103": "channel-order",
    "KF104": "flattened",
    "KF105": "length-mismatch",
    "KF106": "size-mismatch",
    "KF107": "feature-mismatch",
    "KF108": "missing-batch-axis",
    "KF109": "dtype-mismatch",
    "KF201": "index-out-of-range",
    "KF202": "negative-index",
    "KF203": "non-integer-index",
    "KF211": "label-out-of-range",
    "KF212": "one-based-labels",
    "KF213": "onehot-with-sparse-loss",
    "KF214": "sparse-with-categorical-loss",
    "KF215": "label-shape-mismatch",
    "KF216": "binary-label-range",
    "KF221": "non-finite",
    "KF222": "non-numeric",
    "KF301": "cardinality-mismatch",
    "KF302": "batch-remainder",
    "KF303": "batch-larger-than-data",
    "KF304": "fixed-batch-size",
    "KF401": "ragged-sequences",
    "KF402": "truncation-needed",
    "KF403": "pad-value-collision",
    "KF501": "unstable-augmentation-shape",
    "KF502": "augmentation-incompatible",
    "KF503": "augmentation-misalignment",
    "KF504": "mixed-sample-shapes",
    "KF505": "unreadable-sample",
    "KF601": "layer-chain-break",
    "KF602": "loss-output-mismatch",
    "KF603": "declared-length-unused",
}


def token_matches(token: str, code: str, name: str) -> bool:
    """`--select`/`--ignore`: a code, a code prefix (`KF1`, `KF10`) or a rule name."""
    return token == name or code.startswith(token.upper())


def known_token(token: str) -> bool:
    return any(token_matches(token, code, name) for code, name in ALL_CODES.items())
