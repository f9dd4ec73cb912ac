"""The bad-input corpus: hostile, broken and odd files for every reader kerasfix has.

`build(root)` writes one folder per case under `root` and returns the cases; each case says
how the real CLI must behave on it (exit code, the rule code or error text, and which folder,
if any, it may write). `tests/hostile/test_corpus.py` runs them all; beyond each case's own
expectation it checks that stderr holds no traceback, that no marker file appeared (the
payloads that would run code create one), that nothing was written outside `--out` and that
every input is byte-identical afterwards.

Seeded and small (the largest file is a 17 MB line without a newline), built from the
committed fixtures (real Keras models) by editing their JSON and zip members, so building the
corpus needs no TensorFlow. Run it by hand to look at the files:

    python tests/hostile/make_corpus.py /tmp/corpus
"""

from __future__ import annotations

import base64
import copy
import io
import json
import marshal
import os
import shutil
import struct
import sys
import types
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "fixtures" / "seed" / "conv1d"  # input (None, 10, 3), output Dense(1, sigmoid)
H5_MODEL = ROOT / "fixtures" / "KF101" / "positive" / "model.h5"
# Every payload that would run code creates a file of this name in its case folder.
MARKER = "PWNED"
MARKER_MODULE = "kf_marker_mod"


@dataclass(frozen=True)
class Case:
    """One hostile input and how the real CLI must treat it."""

    name: str
    reader: str  # npy npz h5 csv json keras h5model jsonarch savedmodel folder
    args: tuple[str, ...]  # CLI arguments, paths relative to the case folder
    exit_code: int
    # Files (relative) that must carry this rule code among their findings in the JSON report.
    findings: dict[str, str] = field(default_factory=dict)
    # Text that stderr (exit 2) or the named files' findings must contain.
    message: str = ""
    out: str | None = None  # the one folder the run may write to
    out_files: tuple[str, ...] = ()  # exactly what --out must hold after the run (empty: no --out)


# --- byte-level helpers ------------------------------------------------------------------


def _npy_bytes(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npy_with_header(header: str, version: tuple[int, int] = (1, 0), body: bytes = b"") -> bytes:
    """A .npy whose header text is written as given (numpy would refuse to write most)."""
    text = header.encode("latin1")
    if version == (1, 0):
        pad = (64 - (10 + len(text) + 1) % 64) % 64
        text += b" " * pad + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body
    pad = (64 - (12 + len(text) + 1) % 64) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(text)) + text + body


class _Marker:
    """Unpickling this creates the marker file: what a hostile pickle would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def _object_array(marker: Path) -> np.ndarray[Any, Any]:
    array = np.empty(2, dtype=object)
    array[0] = _Marker(str(marker))
    array[1] = [1, 2, 3]
    return array


def _zip(members: list[tuple[str, bytes]], compress: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some cases
        with zipfile.ZipFile(buffer, "w", compress) as archive:
            for name, data in members:
                archive.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return buffer.getvalue()


def _patch_zip(
    data: bytes, name: str, *, size: int | None = None, flags: int | None = None
) -> bytes:
    """Forge a member's declared uncompressed size or flag bits, in the local header and the
    central directory alike."""
    raw = bytearray(data)
    encoded = name.encode()
    for signature, flag_at, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 6, 22, 26, 30),
        (b"PK\x01\x02", 8, 24, 28, 46),
    ):
        start = 0
        while (start := raw.find(signature, start)) >= 0:
            length = struct.unpack_from("<H", raw, start + name_len_at)[0]
            if bytes(raw[start + name_at : start + name_at + length]) == encoded:
                if size is not None:
                    struct.pack_into("<I", raw, start + size_at, size)
                if flags is not None:
                    old = struct.unpack_from("<H", raw, start + flag_at)[0]
                    struct.pack_into("<H", raw, start + flag_at, old | flags)
            start += 4
    return bytes(raw)


def _seed_members() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(SEED / "model.keras") as archive:
        return [(n, archive.read(n)) for n in archive.namelist()]


def _seed_config() -> dict[str, Any]:
    with zipfile.ZipFile(SEED / "model.keras") as archive:
        config: dict[str, Any] = json.loads(archive.read("config.json"))
    return config


def _keras_with(
    config: dict[str, Any] | None = None,
    config_bytes: bytes | None = None,
    extra: list[tuple[str, bytes]] | None = None,
    compress: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """The seed model as a .keras zip, with its config.json replaced and members added."""
    members = []
    for name, data in _seed_members():
        if name == "config.json":
            data = config_bytes if config_bytes is not None else json.dumps(config).encode()
        members.append((name, data))
    return _zip(members + (extra or []), compress)


def _with_layer(layer: dict[str, Any]) -> dict[str, Any]:
    """The seed config with `layer` inserted right after the input."""
    config = _seed_config()
    config["config"]["layers"].insert(1, layer)
    return config


def _lambda_layer(marker: Path) -> dict[str, Any]:
    """A Keras 3 `Lambda` whose saved bytecode (CVE-2024-3660 style) creates the marker."""
    source = f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]"
    module = compile(source, "<lambda>", "eval")
    code = marshal.dumps(next(c for c in module.co_consts if isinstance(c, types.CodeType)))
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "trainable": True,
            "function": {
                "class_name": "__lambda__",
                "config": {
                    "code": base64.b64encode(code).decode("ascii"),
                    "defaults": None,
                    "closure": None,
                },
            },
            "arguments": {},
        },
        "registered_name": None,
    }


def _custom_layer(module: str | None, class_name: str, **extra: Any) -> dict[str, Any]:
    layer: dict[str, Any] = {"class_name": class_name, "config": {"name": "custom", **extra}}
    if module is not None:
        layer["module"] = module
        layer["registered_name"] = f"{module}>{class_name}"
    return layer


def _deep(levels: int) -> Any:
    node: Any = 0
    for _ in range(levels):
        node = [node]
    return node


def _deep_json(levels: int) -> bytes:
    return b"[" * levels + b"0" + b"]" * levels


def _h5(path: Path, build: Callable[[h5py.File], None], **kwargs: Any) -> None:
    with h5py.File(path, "w", **kwargs) as f:
        build(f)


# --- the cases ---------------------------------------------------------------------------


def build(root: Path) -> list[Case]:
    """Write every case's folder under `root`; return the cases."""
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    rng = np.random.default_rng(9)

    def folder(name: str, with_data: bool = True, with_model: bool = True) -> Path:
        where = root / name
        where.mkdir()
        if with_model:
            shutil.copy(SEED / "model.keras", where / "model.keras")
        if with_data:
            shutil.copy(SEED / "x.npy", where / "x.npy")
            shutil.copy(SEED / "y.npy", where / "y.npy")
        # The module a hostile config names: importing it would create the marker.
        (where / f"{MARKER_MODULE}.py").write_text(
            f"open({str(where / MARKER)!r}, 'w').close()\nclass Evil:\n    pass\n"
        )
        return where

    def data_case(
        reader: str, name: str, filename: str, content: bytes, message: str, alone: bool = False
    ) -> None:
        """A bad DATA file given with a good one (KF001, exit 1), or alone (exit 2)."""
        where = folder(name)
        (where / filename).write_bytes(content)
        if alone:
            cases.append(Case(name, reader, ("diagnose", "model.keras", filename), 2, {}, message))
        else:
            args = ("diagnose", "model.keras", filename, "x.npy", "--format", "json")
            cases.append(Case(name, reader, args, 1, {filename: "KF001"}, message))

    def model_case(
        reader: str,
        name: str,
        filename: str,
        content: bytes,
        exit_code: int,
        message: str,
        code: str | None = None,
    ) -> Path:
        """A hostile MODEL diagnosed with good data: refused (exit 2) or reported (KF003: an
        error, exit 1, where loading would run code; a warning, exit 0, for a custom class)."""
        where = folder(name, with_model=False)
        (where / filename).write_bytes(content)
        args = ("diagnose", filename, "x.npy", "--format", "json")
        findings = {filename: code} if code else {}
        cases.append(Case(name, reader, args, exit_code, findings, message))
        return where

    # .npy ------------------------------------------------------------------------------
    good = np.load(SEED / "x.npy")
    good_bytes = (SEED / "x.npy").read_bytes()
    data_case("npy", "npy-empty", "bad.npy", b"", "an empty file", alone=True)
    data_case("npy", "npy-truncated-header", "bad.npy", good_bytes[:40], "corrupt .npy header")
    data_case("npy", "npy-wrong-extension", "bad.npy", b"a,b\n1,2\n", "no NUMPY magic")
    data_case(
        "npy",
        "npy-header-holds-an-expression",
        "bad.npy",
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2**47, 10, 3), }"),
        "corrupt .npy header",
    )
    data_case(
        "npy",
        "npy-header-claims-petabytes",
        "bad.npy",
        _npy_with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (140737488355328, 10, 3), }"
        ),
        "declares 33776997205278720 bytes",
    )
    data_case(
        "npy",
        "npy-huge-header",
        "bad.npy",
        _npy_with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'pad': '"
            + "A" * 200_000
            + "'}",
            version=(2, 0),
        ),
        "corrupt .npy header",
    )
    data_case(
        "npy",
        "npy-shape-overflows-int64",
        "bad.npy",
        _npy_with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1180591620717411303424, 3), }"
        ),
        "declares 28334198897217871282176 bytes",
    )
    data_case(
        "npy",
        "npy-negative-shape",
        "bad.npy",
        _npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 10, 3), }"),
        "negative dimension",
    )
    data_case(
        "npy",
        "npy-header-not-a-dict",
        "bad.npy",
        _npy_with_header("[1, 2, 3]"),
        "corrupt .npy header",
    )
    data_case(
        "npy",
        "npy-bad-version",
        "bad.npy",
        b"\x93NUMPY\x09\x09" + b"\x00" * 120,
        "unsupported .npy format version (9, 9)",
    )
    data_case(
        "npy",
        "npy-truncated-data",
        "bad.npy",
        good_bytes[: len(good_bytes) // 2],
        "truncated",
    )
    where = root / "npy-pickled-object-array"
    data_case(
        "npy",
        "npy-pickled-object-array",
        "bad.npy",
        _npy_bytes(_object_array(where / MARKER)),
        "never unpickles",
    )
    data_case(
        "npy",
        "npy-structured-object-field",
        "bad.npy",
        _npy_with_header("{'descr': [('a', '|O')], 'fortran_order': False, 'shape': (2,), }")
        + b"\x00" * 64,
        "never unpickles",
    )

    # .npz ------------------------------------------------------------------------------
    good_npz = _zip([("x.npy", good_bytes)])
    data_case("npz", "npz-empty", "bad.npz", b"", "an empty file", alone=True)
    data_case(
        "npz", "npz-truncated", "bad.npz", good_npz[: len(good_npz) // 2], "not a readable .npz"
    )
    data_case("npz", "npz-wrong-extension", "bad.npz", good_bytes, "not a zip archive")
    small = _zip([("x.npy", _npy_bytes(np.zeros((4, 10, 3), np.float32)))], zipfile.ZIP_DEFLATED)
    data_case(
        "npz",
        "npz-member-claims-terabytes",
        "bad.npz",
        _patch_zip(small, "x.npy", size=0xFFFFFFF0),
        "zip bomb",
    )
    bomb = io.BytesIO()
    np.savez_compressed(bomb, x=np.zeros((3_000_000, 10, 3), np.uint8))  # 90 MB -> ~90 kB
    data_case("npz", "npz-zip-bomb", "bad.npz", bomb.getvalue(), "zip bomb")
    data_case(
        "npz",
        "npz-duplicate-members",
        "bad.npz",
        _zip([("x.npy", good_bytes), ("x.npy", _npy_bytes(np.zeros(3)))]),
        "duplicate",
    )
    data_case(
        "npz",
        "npz-path-traversal-member",
        "bad.npz",
        _zip([("x.npy", good_bytes), ("../../evil.npy", good_bytes)]),
        "unsafe name",
    )
    data_case(
        "npz",
        "npz-absolute-member",
        "bad.npz",
        _zip([("/tmp/evil.npy", good_bytes)]),
        "unsafe name",
    )
    data_case(  # found by `make fuzz`: zipfile raised IndexError on it
        "npz",
        "npz-member-with-empty-name",
        "bad.npz",
        _zip([("x.npy", good_bytes), ("", b"")]),
        "empty name",
    )
    where = root / "npz-pickled-object-array"
    data_case(
        "npz",
        "npz-pickled-object-array",
        "bad.npz",
        _zip([("x.npy", _npy_bytes(_object_array(where / MARKER)))]),
        "never unpickles",
    )
    data_case(
        "npz",
        "npz-encrypted-member",
        "bad.npz",
        _patch_zip(good_npz, "x.npy", flags=0x1),
        "encrypted",
    )
    tiny = _npy_bytes(np.zeros(1, np.uint8))
    data_case(
        "npz",
        "npz-too-many-members",
        "bad.npz",
        _zip([(f"a{i}.npy", tiny) for i in range(10_001)]),
        "members (limit 10000)",
    )
    data_case(
        "npz",
        "npz-member-not-npy",
        "bad.npz",
        _zip([("x.npy", b"this is not an array at all")]),
        "member 'x'",
    )

    # .h5 / .hdf5 -----------------------------------------------------------------------
    where = folder("h5-templates", with_data=False, with_model=False)
    good_h5 = where / "good.h5"
    _h5(good_h5, lambda f: f.create_dataset("x", data=good))
    good_h5_bytes = good_h5.read_bytes()
    shutil.rmtree(where)
    data_case("h5", "h5-empty", "bad.h5", b"", "an empty file", alone=True)
    data_case("h5", "h5-truncated", "bad.h5", good_h5_bytes[:1500], "not a readable HDF5")
    data_case("h5", "h5-wrong-extension", "bad.hdf5", good_bytes, "no HDF5 signature")

    def h5_case(name: str, build_file: Callable[[Path, Path], None], message: str) -> None:
        where = folder(name)
        build_file(where, where / "bad.h5")
        args = ("diagnose", "model.keras", "bad.h5", "x.npy", "--format", "json")
        cases.append(Case(name, "h5", args, 1, {"bad.h5": "KF001"}, message))

    def secret(where: Path) -> Path:
        path = where / "secret.bin"
        path.write_bytes(rng.random(300).astype(np.float32).tobytes())
        return path

    def external_link(where: Path, path: Path) -> None:
        target = where / "target.h5"
        _h5(target, lambda f: f.create_dataset("x", data=good))
        _h5(path, lambda f: f.__setitem__("x", h5py.ExternalLink(str(target), "/x")))

    def external_storage(where: Path, path: Path) -> None:
        leak = secret(where)
        _h5(
            path,
            lambda f: f.create_dataset(
                "x", shape=(10, 10, 3), dtype="<f4", external=[(str(leak), 0, 1200)]
            ),
        )

    def virtual(where: Path, path: Path) -> None:
        target = where / "target.h5"
        _h5(target, lambda f: f.create_dataset("x", data=good))
        layout = h5py.VirtualLayout(shape=good.shape, dtype=good.dtype)
        layout[:] = h5py.VirtualSource(str(target), "x", shape=good.shape)
        _h5(path, lambda f: f.create_virtual_dataset("x", layout))

    def shape_bomb(where: Path, path: Path) -> None:
        _h5(path, lambda f: f.create_dataset("x", shape=(2**40, 10, 3), dtype="<f8", chunks=True))

    def dangling_reference(where: Path, path: Path) -> None:
        def make(f: h5py.File) -> None:
            group = f.create_group("gone")
            refs = f.create_dataset("x", shape=(2,), dtype=h5py.ref_dtype)
            refs[0] = group.ref
            del f["gone"]

        _h5(path, make)

    def deep_groups(where: Path, path: Path) -> None:
        _h5(path, lambda f: f.create_dataset("/".join(["g"] * 80) + "/x", data=good))

    def damaged_local_heap(where: Path, path: Path) -> None:
        # Found by `make fuzz`: one byte of the root group's local heap changed makes h5py
        # raise SystemError from inside a link visit (it was exit 3).
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            f.create_dataset("x", data=np.zeros((4, 10, 3), np.float32))
            f.create_dataset("y", data=np.arange(4))
        raw = bytearray(buffer.getvalue())
        raw[1126] = 3
        path.write_bytes(bytes(raw))

    h5_case("h5-damaged-local-heap", damaged_local_heap, "not a readable HDF5")
    h5_case("h5-external-link", external_link, "ExternalLink")
    h5_case(
        "h5-dangling-soft-link",
        lambda w, p: _h5(p, lambda f: f.__setitem__("x", h5py.SoftLink("/missing"))),
        "SoftLink",
    )
    h5_case("h5-external-storage", external_storage, "stores its data in other files")
    h5_case("h5-virtual-dataset", virtual, "stores its data in other files")
    h5_case("h5-shape-bomb", shape_bomb, "shape bomb")
    h5_case("h5-dangling-object-reference", dangling_reference, "object references")
    h5_case("h5-deeply-nested-groups", deep_groups, "nest deeper")

    # .csv / .tsv -----------------------------------------------------------------------
    data_case("csv", "csv-empty", "bad.csv", b"", "an empty file", alone=True)
    data_case("csv", "csv-not-utf8", "bad.csv", b"a,b\n\xff\xfe\x00,1\n", "not UTF-8")
    data_case("csv", "csv-huge-field", "bad.csv", b"a,b\n" + b"1" * (2 << 20) + b",2\n", "field")
    data_case("csv", "csv-ragged-rows", "bad.csv", b"1,2,3\n1,2\n", "row 2 has 2 cells")
    data_case("csv", "tsv-wrong-extension", "bad.tsv", good_npz, "not UTF-8 text")
    data_case(
        "csv",
        "csv-endless-line",
        "bad.csv",
        b"1," * (17 * 1024 * 1024 // 2),
        "longer than",
    )

    # .jsonl / .json --------------------------------------------------------------------
    data_case("json", "jsonl-deep-nesting", "bad.jsonl", _deep_json(200_000), "nested too deeply")
    data_case("json", "jsonl-not-utf8", "bad.jsonl", b"[1, 2, \xff\xfe]\n", "not UTF-8")
    data_case("json", "jsonl-not-json", "bad.jsonl", b"{not json at all\n", "not valid JSON")
    data_case("json", "jsonl-huge-integer", "bad.jsonl", b"[" + b"9" * 5000 + b"]\n", "digits")
    data_case(
        "json",
        "jsonl-endless-line",
        "bad.jsonl",
        b"[" + b"1," * (17 * 1024 * 1024 // 2),
        "longer than",
    )
    data_case(  # found by `make fuzz`: equal key counts, but no record holds both keys
        "json",
        "jsonl-misaligned-records",
        "bad.jsonl",
        b'{"x": [1, 2, 3]}\n{"y": 0}\n',
        "missing from 1 of 2 records",
    )
    data_case(  # found by `make fuzz`: numpy cannot hold it
        "json",
        "jsonl-integer-past-int64",
        "bad.jsonl",
        b'{"x": [6, 7, 8888888888888888888888888889], "y": 0}\n',
        "does not fit in a 64-bit integer",
    )
    data_case(
        "json", "json-wrong-shape", "bad.json", b"[1, 2, 3]", "neither a token list nor an object"
    )
    data_case(
        "json",
        "json-nested-token-lists",
        "bad.json",
        json.dumps({"x": [[[1, [2]], [3, 4]], [[4, 5]]], "y": [0, 1]}).encode(),
        "nested",
    )
    # Sequences of feature vectors are read; steps of different widths are no array.
    data_case(
        "json",
        "json-steps-of-different-widths",
        "bad.json",
        json.dumps({"x": [[[1, 2], [3]], [[4]]], "y": [0, 1]}).encode(),
        "different numbers of features",
    )

    # .keras ----------------------------------------------------------------------------
    seed_keras = (SEED / "model.keras").read_bytes()
    model_case("keras", "keras-empty", "model.keras", b"", 2, "not a Keras model")
    model_case(
        "keras",
        "keras-truncated",
        "model.keras",
        seed_keras[: len(seed_keras) // 2],
        2,
        "a damaged .keras zip",
    )
    model_case("keras", "keras-wrong-extension", "model.keras", good_h5_bytes, 2, "model_config")
    model_case(
        "keras",
        "keras-path-traversal-member",
        "model.keras",
        _keras_with(_seed_config(), extra=[("../../../evil.txt", b"x")]),
        2,
        "unsafe name",
    )
    model_case(
        "keras",
        "keras-absolute-member",
        "model.keras",
        _keras_with(_seed_config(), extra=[("/etc/cron.d/evil", b"x")]),
        2,
        "unsafe name",
    )
    model_case(
        "keras",
        "keras-duplicate-config",
        "model.keras",
        _keras_with(_seed_config(), extra=[("config.json", b"{}")]),
        2,
        "duplicate",
    )
    padded = json.dumps(_seed_config()).encode() + b" " * (8 << 20)
    model_case(
        "keras",
        "keras-config-zip-bomb",
        "model.keras",
        _keras_with(config_bytes=padded),
        2,
        "inflates",
    )
    model_case(
        "keras",
        "keras-config-claims-terabytes",
        "model.keras",
        _patch_zip(_keras_with(_seed_config()), "config.json", size=0xFFFFFFF0),
        2,
        "declares",
    )
    model_case(
        "keras",
        "keras-encrypted-config",
        "model.keras",
        _patch_zip(_keras_with(_seed_config()), "config.json", flags=0x1),
        2,
        "encrypted",
    )
    model_case(
        "keras",
        "keras-too-many-members",
        "model.keras",
        _keras_with(_seed_config(), extra=[(f"assets/{i}", b"") for i in range(10_001)]),
        2,
        "members (limit 10000)",
    )
    model_case(
        "keras",
        "keras-config-deep-nesting",
        "model.keras",
        _keras_with(
            config_bytes=b'{"class_name": "Sequential", "config": ' + _deep_json(100_000) + b"}"
        ),
        2,
        "nests too deeply",
    )
    config = _seed_config()
    config["config"]["layers"][1]["config"]["kernel_initializer"]["config"]["seed"] = _deep(500)
    model_case(
        "keras",
        "keras-config-deep-but-parseable",
        "model.keras",
        _keras_with(config),
        2,
        "nests deeper",
    )
    model_case(
        "keras",
        "keras-config-not-utf8",
        "model.keras",
        _keras_with(config_bytes=b'{"class_name": "\xff\xfe"}'),
        2,
        "not UTF-8",
    )
    model_case(
        "keras",
        "keras-config-not-json",
        "model.keras",
        _keras_with(config_bytes=b"{'class_name': Sequential"),
        2,
        "not valid JSON",
    )
    model_case(
        "keras",
        "keras-config-not-object",
        "model.keras",
        _keras_with(config_bytes=b"[]"),
        2,
        "object",
    )
    where = root / "keras-lambda-bytecode"
    model_case(
        "keras",
        "keras-lambda-bytecode",
        "model.keras",
        _keras_with(_with_layer(_lambda_layer(where / MARKER))),
        1,
        "Python code",
        "KF003",
    )
    model_case(
        "keras",
        "keras-module-importable-marker",
        "model.keras",
        _keras_with(_with_layer(_custom_layer(MARKER_MODULE, "Evil"))),
        0,
        MARKER_MODULE,
        "KF003",
    )
    model_case(
        "keras",
        "keras-registered-os-system",
        "model.keras",
        _keras_with(_with_layer(_custom_layer("os", "system"))),
        1,
        "'os'",
        "KF003",
    )
    config = _seed_config()
    config["config"]["layers"][1]["config"]["activation"] = {
        "module": "builtins",
        "class_name": "function",
        "config": "eval",
        "registered_name": "function",
    }
    model_case(
        "keras",
        "keras-builtins-eval-activation",
        "model.keras",
        _keras_with(config),
        1,
        "eval",
        "KF003",
    )
    config = _with_layer(
        {
            "module": "keras.config",
            "class_name": "function",
            "config": "enable_unsafe_deserialization",
            "registered_name": "function",
        }
    )
    config["config"]["layers"].insert(
        2, _lambda_layer(root / "keras-enable-unsafe-then-lambda" / MARKER)
    )
    model_case(
        "keras",
        "keras-enable-unsafe-then-lambda",
        "model.keras",
        _keras_with(config),
        1,
        "enable_unsafe_deserialization",
        "KF003",
    )
    model_case(
        "keras",
        "keras-unknown-class",
        "model.keras",
        _keras_with(_with_layer(_custom_layer(None, "TotallyCustomLayer"))),
        0,
        "not a built-in Keras layer",
        "KF003",
    )
    model_case(
        "keras",
        "keras-tfsmlayer",
        "model.keras",
        _keras_with(_with_layer(_custom_layer("keras.layers", "TFSMLayer", filepath="/tmp/sm"))),
        1,
        "TFSMLayer",
        "KF003",
    )
    model_case(
        "keras",
        "keras-vocabulary-file",
        "model.keras",
        _keras_with(
            _with_layer(_custom_layer("keras.layers", "StringLookup", vocabulary="/etc/passwd"))
        ),
        1,
        "names a file",
        "KF003",
    )
    # Repair must build the model for --verify-fit: refused before Keras sees it.
    where = folder("keras-lambda-verify-fit-refused", with_model=False)
    (where / "model.keras").write_bytes(_keras_with(_with_layer(_lambda_layer(where / MARKER))))
    np.save(where / "x4.npy", good[..., np.newaxis])  # KF102: a fix to write
    shutil.copy(SEED / "y.npy", where / "y4.npy")
    cases.append(
        Case(
            "keras-lambda-verify-fit-refused",
            "keras",
            ("repair", "model.keras", "x4.npy", "--out", "out", "--verify-fit"),
            2,
            {},
            "--trust-model",
            out="out",
        )
    )

    # legacy .h5 model ------------------------------------------------------------------
    def h5_model_case(
        name: str, edit: Callable[[h5py.File, Path], None], exit_code: int, message: str
    ) -> None:
        where = folder(name, with_data=False, with_model=False)
        shutil.copy(H5_MODEL, where / "model.h5")
        with h5py.File(where / "model.h5", "r+") as f:
            edit(f, where)
        findings = {"model.h5": "KF003"} if exit_code != 2 else {}
        cases.append(
            Case(
                name,
                "h5model",
                ("diagnose", "model.h5", "--format", "json"),
                exit_code,
                findings,
                message,
            )
        )

    def h5_lambda(f: h5py.File, where: Path) -> None:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"].insert(1, _lambda_layer(where / MARKER))
        f.attrs["model_config"] = json.dumps(config)

    def h5_external(f: h5py.File, where: Path) -> None:
        target = where / "weights.h5"
        _h5(target, lambda g: g.create_dataset("kernel", data=np.zeros(3)))
        f["model_weights"]["evil"] = h5py.ExternalLink(str(target), "/kernel")

    def h5_attr(value: Any) -> Callable[[h5py.File, Path], None]:
        def edit(f: h5py.File, where: Path) -> None:
            f.attrs["model_config"] = value

        return edit

    h5_model_case("h5model-lambda-bytecode", h5_lambda, 1, "Python code")
    h5_model_case("h5model-external-link-in-weights", h5_external, 2, "ExternalLink")
    h5_model_case("h5model-config-not-a-string", h5_attr(np.arange(5)), 2, "not a string")
    h5_model_case(
        "h5model-config-deep-nesting",
        h5_attr('{"class_name": "Sequential", "config": ' + _deep_json(100_000).decode() + "}"),
        2,
        "nests too deeply",
    )
    h5_model_case("h5model-config-not-json", h5_attr("{nope"), 2, "not valid JSON")
    h5_model_case(
        "h5model-no-config",
        lambda f, w: f.attrs.__delitem__("model_config"),
        2,
        "without 'model_config'",
    )
    where = folder("h5model-global-heap-hang", with_data=False, with_model=False)
    raw = bytearray(H5_MODEL.read_bytes())
    raw[20], raw[5633], raw[5640] = 1, 1, 0  # found by `make fuzz`
    (where / "model.h5").write_bytes(bytes(raw))
    cases.append(
        Case(
            "h5model-global-heap-hang",
            "h5model",
            # libhdf5 loops for ever reading the string attribute 'backend' (a damaged global
            # heap), beyond Ctrl-C: the model is read in a child that the time limit kills.
            ("diagnose", "model.h5", "--file-timeout", "3"),
            2,
            {},
            "longer than --file-timeout 3 s",
        )
    )
    raw = bytearray(H5_MODEL.read_bytes())  # found by `make fuzz`: a global heap object
    raw[1120:1124] = b"\xbd\xfd\xff\xff"  # claiming 4 GiB, which libhdf5 allocated
    raw[3687:3693] = b'"nib, '
    raw[10430] = ord("0")
    model_case(
        "h5model", "h5model-heap-claims-4gib", "model.h5", bytes(raw), 2, "memory allocation"
    )
    model_case(
        "h5model",
        "h5model-truncated",
        "model.h5",
        H5_MODEL.read_bytes()[:3000],
        2,
        "truncated file",
    )

    # architecture .json ----------------------------------------------------------------
    def arch(config: dict[str, Any]) -> bytes:
        config = copy.deepcopy(config)
        config.pop("compile_config", None)
        return json.dumps(config).encode()

    where = root / "jsonarch-lambda-bytecode"
    model_case(
        "jsonarch",
        "jsonarch-lambda-bytecode",
        "arch.json",
        arch(_with_layer(_lambda_layer(where / MARKER))),
        1,
        "Python code",
        "KF003",
    )
    model_case(
        "jsonarch",
        "jsonarch-module-importable-marker",
        "arch.json",
        arch(_with_layer(_custom_layer(MARKER_MODULE, "Evil"))),
        0,
        MARKER_MODULE,
        "KF003",
    )
    model_case(
        "jsonarch",
        "jsonarch-deep-nesting",
        "arch.json",
        b'{"class_name": "Sequential", "config": ' + _deep_json(100_000) + b"}",
        2,
        "nests too deeply",
    )
    model_case("jsonarch", "jsonarch-not-utf8", "arch.json", b'{"a": "\xff"}', 2, "not UTF-8")
    model_case("jsonarch", "jsonarch-not-a-model", "arch.json", b'{"a": 1}', 2, "class_name")

    # SavedModel folders ----------------------------------------------------------------
    where = folder("savedmodel-garbage-pb", with_model=False)
    (where / "sm").mkdir()
    (where / "sm" / "saved_model.pb").write_bytes(bytes(rng.integers(0, 256, 4096, np.uint8)))
    cases.append(
        Case("savedmodel-garbage-pb", "savedmodel", ("inspect", "sm"), 2, {}, "saved_model.pb")
    )
    where = folder("savedmodel-no-pb", with_model=False)
    (where / "sm" / "variables").mkdir(parents=True)
    cases.append(
        Case("savedmodel-no-pb", "savedmodel", ("inspect", "sm"), 2, {}, "not a SavedModel")
    )

    # data folders ----------------------------------------------------------------------
    where = folder("folder-loops-fifos-unreadable", with_data=False)
    data = where / "data"
    (data / "sub").mkdir(parents=True)
    shutil.copy(SEED / "x.npy", data / "x.npy")
    shutil.copy(SEED / "y.npy", data / "y.npy")
    os.symlink("..", data / "sub" / "loop")  # a folder loop: walking it must not recurse
    os.symlink("self.npy", data / "self.npy")  # a file link loop: ELOOP
    os.symlink("/dev/zero", data / "zero.npy")  # endless bytes
    os.mkfifo(data / "fifo.npy")  # opening it would block forever
    (data / "locked.npy").write_bytes(b"secret, and unreadable by anyone but root")
    os.chmod(data / "locked.npy", 0)
    (data / "new\nline.npy").write_bytes(b"\x93NUMPY garbage")
    cases.append(
        Case(
            "folder-loops-fifos-unreadable",
            "folder",
            ("diagnose", "model.keras", "data", "--format", "json"),
            1,
            {
                "data/self.npy": "KF001",
                "data/zero.npy": "KF001",
                "data/fifo.npy": "KF001",
                "data/locked.npy": "KF001",
                "data/new\nline.npy": "KF001",
            },
        )
    )

    # repair over hostile input ---------------------------------------------------------
    where = folder("repair-hostile-folder", with_data=False)
    data = where / "data"
    data.mkdir()
    np.save(data / "x.npy", good[..., np.newaxis])  # KF102: repaired
    shutil.copy(SEED / "y.npy", data / "y.npy")
    (data / "bomb.npz").write_bytes(bomb.getvalue())
    (data / "pickled.npz").write_bytes(_zip([("x.npy", _npy_bytes(_object_array(where / MARKER)))]))
    (data / "traversal.npz").write_bytes(_zip([("../../../evil.npy", good_bytes)]))
    cases.append(
        Case(
            "repair-hostile-folder",
            "repair",
            ("repair", "model.keras", "data", "--out", "out", "--format", "json"),
            1,
            {},
            "",
            out="out",
            # The unchanged files are carried into --out as hard links, never opened: the
            # hostile ones stay exactly as they were, reported (KF001), not repaired.
            out_files=(
                "bomb.npz",
                "kerasfix-repair.json",
                "pickled.npz",
                "traversal.npz",
                "x.npy",
                "y.npy",
            ),
        )
    )
    where = folder("repair-only-hostile", with_data=False)
    (where / "traversal.npz").write_bytes(
        _zip([("x.npy", good_bytes), ("../evil.npy", good_bytes)])
    )
    cases.append(
        Case(
            "repair-only-hostile",
            "repair",
            ("repair", "model.keras", "traversal.npz", "--out", "out"),
            2,
            {},
            "unsafe name",
            out="out",
        )
    )
    return cases


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: make_corpus.py DIR\n")
        return 2
    root = Path(argv[1])
    cases = build(root)
    (root / "cases.json").write_text(json.dumps([asdict(c) for c in cases], indent=1) + "\n")
    print(f"{len(cases)} cases in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
