"""TFRecord shards through the real CLI: framing and CRCs, damaged records, compression,
features mapped to the model, folders of shards, repair, and no TensorFlow on the way.

The fixtures (fixtures/tfrecord/*) are written by tf.io.TFRecordWriter; the damaged and unusual
shards built here use kerasfix's own writer (the same framing, checked against the fixtures).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerasfix.loaders import tfrecord
from tests.conftest import FIXTURES, ROOT, run_cli

TFR = FIXTURES / "tfrecord"
MODEL = str(TFR / "healthy" / "model.keras")


def write_shard(
    path: Path, records: list[dict[str, list[Any]]], compression: str = "none"
) -> list[int]:
    """Records as kerasfix frames them (ints: int64_list, floats: float_list, bytes:
    bytes_list); the byte offset of each record in the uncompressed stream."""
    example_type = tfrecord.example_class()
    offsets, at = [], 0
    with open(path, "wb") as fh:
        writer = tfrecord.RecordWriter(fh, compression)
        for record in records:
            example = example_type()
            for name, values in record.items():
                entry = example.features.feature.add()
                entry.key = name.encode()
                kind = (
                    "bytes_list"
                    if values and isinstance(values[0], bytes)
                    else "float_list"
                    if values and isinstance(values[0], float)
                    else "int64_list"
                )
                getattr(entry.value, kind).value.extend(values)
            data = example.SerializeToString()
            offsets.append(at)
            at += len(data) + 16
            writer.write(data)
        writer.close()
    return offsets


def tokens(n: int, length: int = 20, vocab: int = 50) -> list[dict[str, list[Any]]]:
    gen = np.random.default_rng(0)
    return [
        {"tokens": gen.integers(1, vocab, length).tolist(), "label": [int(i % 3)]} for i in range(n)
    ]


def diagnose_json(*args: str, code: int = 1) -> dict[str, Any]:
    outcome = run_cli(["diagnose", *args, "--format", "json"], expected_code=code)
    report: dict[str, Any] = json.loads(outcome.stdout)
    return report


def findings(report: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for r in report["results"] for f in r["findings"] if f["code"] == code]


# --- the format ----------------------------------------------------------------------------


def test_kerasfix_frames_records_byte_for_byte_as_tensorflow(tmp_path: Path) -> None:
    """The fixture was written by tf.io.TFRecordWriter: re-framing its records gives its bytes."""
    source = TFR / "healthy" / "train.tfrecord"
    records = [r for r in tfrecord.iter_framed(str(source)) if isinstance(r, tfrecord.Record)]
    assert len(records) == 12
    assert b"".join(tfrecord.frame(r.data) for r in records) == source.read_bytes()


@pytest.mark.parametrize(
    ("name", "compression"),
    [("healthy/train.tfrecord", "none"), ("healthy-gzip/train.tfrecord.gz", "gzip")],
)
def test_compression_is_detected(name: str, compression: str) -> None:
    assert tfrecord.detect_compression(str(TFR / name)) == compression


def test_zlib_shards_are_detected_and_read(tmp_path: Path) -> None:
    shard = tmp_path / "train.tfrecord"
    write_shard(shard, tokens(5), "zlib")
    assert tfrecord.detect_compression(str(shard)) == "zlib"
    report = diagnose_json(MODEL, str(shard), code=0)
    assert report["features"]["tokens"]["records"] == 5


def test_compression_option_overrides_detection(tmp_path: Path) -> None:
    shard = tmp_path / "train.tfrecord"
    write_shard(shard, tokens(5))
    outcome = run_cli(["diagnose", MODEL, str(shard), "--compression", "gzip"], expected_code=2)
    assert "GZIP stream is damaged" in outcome.stderr


@pytest.mark.parametrize(
    "name",
    ["a.tfrecord", "a.tfrecords", "mnist-train.tfrecord-00003-of-00064", "a.tfrecord.gz"],
)
def test_tfrecord_names(name: str) -> None:
    assert tfrecord.is_tfrecord_name(name)


def test_varints_decode_as_protobuf_does() -> None:
    values = [0, 1, 127, 128, 300, 2**31, 2**63 - 1, -1, -(2**63), 49]
    payload = tfrecord._encode_varints(values)
    decoded = tfrecord.decode_varints(np.frombuffer(payload, dtype=np.uint8))
    assert decoded.tolist() == values
    typed = tfrecord._schema()["Feature"]()
    typed.int64_list.value.extend(values)
    assert typed.int64_list.SerializeToString()[2:] == payload  # packed, as protobuf writes it


def test_unpacked_lists_and_repeated_keys_read_as_tensorflow_reads_them(tmp_path: Path) -> None:
    """Unpacked int64 values (legal, never written by TensorFlow) and a key given twice (the
    map keeps the last)."""

    def varint(n: int) -> bytes:
        return tfrecord._encode_varints([n])

    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2]) + varint(len(payload)) + payload

    unpacked = b"".join(b"\x08" + varint(v) for v in (7, 8, 9))  # field 1, wire type 0
    feature = field(3, unpacked)
    first = field(1, field(1, b"tokens") + field(2, field(3, field(1, varint(1)))))
    entry = field(1, field(1, b"tokens") + field(2, feature))
    data = field(1, first + entry)
    shard = tmp_path / "odd.tfrecord"
    shard.write_bytes(tfrecord.frame(data))
    found = tfrecord.survey(str(shard))
    assert found.records == 1
    arrays = [a for _, chunk in tfrecord.iter_feature(str(shard), "tokens") for a in chunk]
    assert [a.tolist() for a in arrays] == [[7, 8, 9]]


# --- damaged shards: KF001 per record, the rest still checked -------------------------------


def test_corrupt_record_names_index_and_offset_and_the_rest_is_checked() -> None:
    report = diagnose_json(MODEL, str(TFR / "corrupt-record" / "train.tfrecord"))
    bad = findings(report, "KF001")
    assert len(bad) == 1
    assert "record 3 at byte offset 210" in bad[0]["what"]
    assert "data CRC does not match" in bad[0]["what"]
    assert report["features"]["tokens"]["records"] == 11  # the other 11 were read


def test_damaged_header_is_skipped_to_the_next_record(tmp_path: Path) -> None:
    shard = tmp_path / "train.tfrecord"
    offsets = write_shard(shard, tokens(6))
    data = bytearray(shard.read_bytes())
    data[offsets[2] + 1] ^= 0x5A  # the length of record 2: its CRC no longer matches
    shard.write_bytes(bytes(data))
    report = diagnose_json(MODEL, str(shard))
    bad = findings(report, "KF001")
    assert len(bad) == 1
    assert f"record 2 at byte offset {offsets[2]}" in bad[0]["what"]
    assert f"skipped to the next valid record at offset {offsets[3]}" in bad[0]["what"]
    assert report["features"]["tokens"]["records"] == 5


def test_truncated_shard_reports_the_last_record(tmp_path: Path) -> None:
    shard = tmp_path / "train.tfrecord"
    offsets = write_shard(shard, tokens(4))
    shard.write_bytes(shard.read_bytes()[: offsets[3] + 30])
    bad = findings(diagnose_json(MODEL, str(shard)), "KF001")
    assert "record 3" in bad[0]["what"] and "truncated" in bad[0]["what"]


def test_truncated_gzip_shard_keeps_the_records_before_the_damage(tmp_path: Path) -> None:
    shard = tmp_path / "train.tfrecord.gz"
    write_shard(shard, tokens(200), "gzip")
    shard.write_bytes(shard.read_bytes()[:-200])
    report = diagnose_json(MODEL, str(shard))
    bad = findings(report, "KF001")
    assert "GZIP stream is damaged" in bad[0]["what"]
    assert 0 < report["features"]["tokens"]["records"] < 200


def test_a_record_that_is_not_an_example_is_one_kf001(tmp_path: Path) -> None:
    shard = tmp_path / "train.tfrecord"
    write_shard(shard, tokens(3))
    shard.write_bytes(shard.read_bytes() + tfrecord.frame(b"\xff\xff\xff"))
    bad = findings(diagnose_json(MODEL, str(shard)), "KF001")
    assert len(bad) == 1 and "record 3" in bad[0]["what"]
    assert "not a tf.train.Example" in bad[0]["what"]


def test_a_file_that_is_not_a_tfrecord_is_unreadable(tmp_path: Path) -> None:
    shard = tmp_path / "notes.tfrecord"
    shard.write_text("these are not records\n" * 10)
    outcome = run_cli(["diagnose", MODEL, str(shard)], expected_code=2)
    assert "notes.tfrecord" in outcome.stderr and "no valid record" in outcome.stderr


def test_memory_stays_flat_in_the_shard_size(tmp_path: Path) -> None:
    """The peak of traced allocations is the same for a 8 MB and a 34 MB shard (blocks of
    the file, chunks of records), and far below either."""
    row = np.linspace(0, 1, 200, dtype=np.float32).tolist()
    peaks = []
    for records in (10_000, 40_000):
        shard = tmp_path / f"big-{records}.tfrecord"
        write_shard(shard, [{"x": row, "label": [i % 3]} for i in range(records)])
        tracemalloc.start()
        found = tfrecord.survey(str(shard), tfrecord.SurveyPlan(thresholds=(50,)))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert found.records == records
    size = shard.stat().st_size
    assert size > 30 * 1024 * 1024
    assert peaks[1] < peaks[0] * 1.25, peaks
    assert peaks[1] < 24 * 1024 * 1024, peaks


# --- features against the model --------------------------------------------------------------


def test_healthy_shard_says_how_to_parse_each_feature() -> None:
    report = diagnose_json(MODEL, str(TFR / "healthy" / "train.tfrecord"), code=0)
    tokens_summary = report["features"]["tokens"]
    assert tokens_summary["feeds"] == {"role": "input", "name": "tokens"}
    assert tokens_summary["parse"] == "tf.io.FixedLenFeature([20], tf.int64)"
    assert tokens_summary["length"] == [20, 20]
    assert report["features"]["label"]["parse"] == "tf.io.FixedLenFeature([], tf.int64)"
    text = run_cli(["diagnose", MODEL, str(TFR / "healthy" / "train.tfrecord")]).stdout
    assert "feeds input 'tokens': parse with tf.io.FixedLenFeature([20], tf.int64)" in text


def test_flat_list_of_the_input_element_count_is_fine_and_reshaped_by_the_parse_spec(
    tmp_path: Path,
) -> None:
    shard = tmp_path / "images.tfrecord"
    gen = np.random.default_rng(1)
    write_shard(
        shard,
        [{"x": gen.random(8 * 8 * 3).astype(np.float32).tolist(), "y": [i % 3]} for i in range(4)],
    )
    model = str(FIXTURES / "tfrecord" / "image-size" / "model.keras")
    report = diagnose_json(model, str(shard), "--no-trace", code=0)
    assert report["features"]["x"]["parse"] == "tf.io.FixedLenFeature([8, 8, 3], tf.float32)"
    write_shard(shard, [{"x": [0.5] * 190, "y": [0]}])
    flat = findings(diagnose_json(model, str(shard), "--no-trace"), "KF104")
    assert "holds 190 per record" in flat[0]["what"] and "192 values per example" in flat[0]["what"]


def test_features_map_with_x_and_y_options(tmp_path: Path) -> None:
    shard = tmp_path / "train.tfrecord"
    write_shard(shard, [{"ids": r["tokens"], "y_class": r["label"]} for r in tokens(4)])
    report = diagnose_json(MODEL, str(shard), "--x", "tokens=ids", "--y", "y_class", code=0)
    assert report["features"]["ids"]["feeds"] == {"role": "input", "name": "tokens"}
    assert report["features"]["y_class"]["feeds"]["role"] == "output"


def test_image_bytes_are_checked_from_their_headers(tmp_path: Path) -> None:
    from PIL import Image

    def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
        import io

        buffer = io.BytesIO()
        Image.new(mode, size).save(buffer, "PNG")
        return buffer.getvalue()

    shard = tmp_path / "mnist-train.tfrecord-00000-of-00001"
    write_shard(
        shard,
        [
            {"image": [png((8, 8))], "label": [0]},
            {"image": [png((8, 8))], "label": [1]},
            {"image": [png((9, 8), "L")], "label": [2]},
            {"image": [png((8, 8))[:-20]], "label": [0]},
            {"image": [png((8, 8))], "label": [1]},
        ],
    )
    model = str(FIXTURES / "tfrecord" / "image-size" / "model.keras")
    report = diagnose_json(model, str(shard), "--no-trace")
    mixed = findings(report, "KF504")
    assert "records 2" in mixed[0]["what"]
    unreadable = findings(report, "KF505")
    assert "record 3: truncated" in unreadable[0]["what"]
    assert report["features"]["image"]["images"]["sizes"] == {"8x8": 3, "9x8": 1}


# --- folders of shards ---------------------------------------------------------------------


@pytest.fixture
def shard_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "shards"
    folder.mkdir()
    shutil.copy(TFR / "healthy" / "train.tfrecord", folder / "train.tfrecord-00000-of-00003")
    shutil.copy(
        TFR / "ids-out-of-range" / "train.tfrecord", folder / "train.tfrecord-00001-of-00003"
    )
    shutil.copy(
        TFR / "missing-feature" / "train.tfrecord", folder / "train.tfrecord-00002-of-00003"
    )
    (folder / "dataset_info.json").write_text("{}")
    return folder


def test_folder_of_shards_runs_in_workers_with_a_summary_per_feature(shard_folder: Path) -> None:
    report = diagnose_json(MODEL, str(shard_folder), "--jobs", "2")
    assert report["summary"]["files"] == 3
    tokens_summary = report["features"]["tokens"]
    assert tokens_summary["files"] == 3 and tokens_summary["records"] == 36
    assert tokens_summary["min"] == 1 and tokens_summary["max"] == 57
    assert report["features"]["label"]["missing"] == 2
    codes = {
        (Path(r["path"]).name[-14:], f["code"]) for r in report["results"] for f in r["findings"]
    }
    assert codes == {("00001-of-00003", "KF201"), ("00002-of-00003", "KF002")}


def test_folder_glob_and_jsonl_stream(shard_folder: Path) -> None:
    outcome = run_cli(
        ["diagnose", MODEL, str(shard_folder), "--format", "jsonl", "--glob", "*-00000-of-*"],
        expected_code=0,
    )
    lines = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert {Path(line["path"]).name for line in lines[:-1]} == {"train.tfrecord-00000-of-00003"}
    assert lines[-1]["features"]["tokens"]["records"] == 12


# --- never TensorFlow --------------------------------------------------------------------------

PROBE = """
import sys
from kerasfix.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
sys.stderr.write("TENSORFLOW=%s\\n" % ("tensorflow" in sys.modules))
"""


@pytest.mark.parametrize(
    "case",
    [
        "healthy",
        "healthy-gzip",
        "ids-out-of-range",
        "labels-out-of-range",
        "missing-feature",
        "corrupt-record",
        "wrong-length",
        "ragged-ids",
        "image-size",
    ],
)
def test_the_tfrecord_path_never_imports_tensorflow(case: str) -> None:
    meta = json.loads((TFR / case / "case.json").read_text())
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "diagnose", meta["model"], *meta["data"], *meta["args"]],
        cwd=TFR / case,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "TENSORFLOW=False" in done.stderr, done.stderr


# --- repair ----------------------------------------------------------------------------------


def _records(path: Path) -> list[dict[str, list[Any]]]:
    example_type = tfrecord.example_class()
    out = []
    for item in tfrecord.iter_framed(str(path)):
        assert isinstance(item, tfrecord.Record)
        example = example_type.FromString(item.data)
        out.append(
            {
                e.key.decode(): list(getattr(e.value, e.value.WhichOneof("kind")).value)
                for e in example.features.feature
            }
        )
    return out


def test_repair_pads_token_lists_keeping_every_feature_and_the_order(tmp_path: Path) -> None:
    case = TFR / "wrong-length"
    out = tmp_path / "fixed"
    run_cli(
        ["repair", str(case / "model.keras"), str(case / "train.tfrecord"), "--out", str(out)],
        expected_code=0,
    )
    before, after = _records(case / "train.tfrecord"), _records(out / "train.tfrecord")
    assert [r["label"] for r in after] == [r["label"] for r in before]
    assert all(a["tokens"] == [0] * 5 + b["tokens"] for a, b in zip(after, before, strict=True))
    manifest = json.loads((out / "kerasfix-repair.json").read_text())
    assert manifest["files"][0]["records"] == {"records_in": 12, "records_out": 12, "changed": 12}
    assert manifest["verification"]["status"] == "pass"
    # A second repair of the output plans nothing.
    again = run_cli(
        [
            "repair",
            str(case / "model.keras"),
            str(out / "train.tfrecord"),
            "--out",
            str(tmp_path / "again"),
            "--dry-run",
        ],
        expected_code=0,
    )
    assert "KF105" not in again.stdout


def test_repair_keeps_unrepairable_records_unless_unsafe_fixes(tmp_path: Path) -> None:
    case = TFR / "corrupt-and-short"
    args = ["repair", str(case / "model.keras"), str(case / "train.tfrecord")]
    kept = run_cli([*args, "--out", str(tmp_path / "kept")], expected_code=1)
    assert "drop_unreadable_records" in kept.stdout  # listed as skipped, unsafe
    manifest = json.loads((tmp_path / "kept" / "kerasfix-repair.json").read_text())
    assert manifest["files"][0]["records"] == {
        "records_in": 12,
        "records_out": 12,
        "changed": 11,
        "kept_unreadable": 1,
        "kept_lacking": 1,
    }
    # The unreadable record's bytes are in the output as they were.
    bad = next(
        r
        for r in tfrecord.iter_framed(str(case / "train.tfrecord"))
        if isinstance(r, tfrecord.BadRecord)
    )
    source = (case / "train.tfrecord").read_bytes()
    assert source[bad.offset : bad.end] in (tmp_path / "kept" / "train.tfrecord").read_bytes()
    run_cli([*args, "--out", str(tmp_path / "dropped"), "--unsafe-fixes"], expected_code=0)
    manifest = json.loads((tmp_path / "dropped" / "kerasfix-repair.json").read_text())
    records = manifest["files"][0]["records"]
    assert records["dropped_unreadable"] == 1 and records["dropped_lacking"] == 1
    assert records["records_out"] == 10
    lost = {a["action"]: a["lost"] for a in manifest["files"][0]["actions"]}
    assert lost["drop_unreadable_records"] == {"records_dropped": 1}


def test_repaired_gzip_shard_stays_gzip(tmp_path: Path) -> None:
    case = TFR / "ragged-ids"
    out = tmp_path / "fixed"
    run_cli(
        [
            "repair",
            str(case / "model.keras"),
            str(case / "train.tfrecord"),
            "--out",
            str(out),
            "--unsafe-fixes",
            "--prefer",
            "data",
        ],
        expected_code=0,
    )
    with gzip.open(out / "train.tfrecord", "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
    assert length > 0
    assert all(len(r["tokens"]) == 20 for r in _records(out / "train.tfrecord"))


@pytest.mark.tensorflow
def test_repaired_shards_read_back_with_tensorflow_and_train_one_step(tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from kerasfix.model.quiet import import_keras

    keras = import_keras()
    import tensorflow as tf

    for case, compression, extra in (
        ("wrong-length", "", []),
        ("ragged-ids", "GZIP", ["--unsafe-fixes", "--prefer", "data"]),
        ("corrupt-and-short", "", ["--unsafe-fixes"]),
    ):
        folder = TFR / case
        out = tmp_path / case
        run_cli(
            [
                "repair",
                str(folder / "model.keras"),
                str(folder / "train.tfrecord"),
                "--out",
                str(out),
                *extra,
            ],
            expected_code=0,
        )
        model = keras.saving.load_model(folder / "model.keras", compile=False)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        length = model.inputs[0].shape[1]
        spec = {
            "tokens": tf.io.FixedLenFeature([length], tf.int64),
            "label": tf.io.FixedLenFeature([], tf.int64),
        }
        dataset = tf.data.TFRecordDataset(str(out / "train.tfrecord"), compression_type=compression)
        parsed = [tf.io.parse_single_example(r, spec) for r in dataset]
        x = np.stack([p["tokens"].numpy() for p in parsed])
        y = np.stack([p["label"].numpy() for p in parsed])
        loss = model.train_on_batch(x, y)
        assert np.isfinite(np.asarray(loss)).all(), case


def test_nonfinite_records_are_reported_and_dropped_only_with_unsafe_fixes(tmp_path: Path) -> None:
    model = str(FIXTURES / "KF221" / "positive" / "model.keras")
    shard = tmp_path / "train.tfrecord"
    rows = [[0.5] * 6 for _ in range(5)]
    rows[2][3] = float("nan")
    write_shard(shard, [{"x": row, "y": [1.0]} for row in rows])
    nonfinite = findings(diagnose_json(model, str(shard)), "KF221")
    assert "in 1 of 5 samples; the first is row 2" in nonfinite[0]["what"]
    run_cli(["repair", model, str(shard), "--out", str(tmp_path / "kept")], expected_code=1)
    # Without --unsafe-fixes the shard is carried as it is (a ready-to-train --out), not fixed.
    assert (tmp_path / "kept" / "train.tfrecord").read_bytes() == shard.read_bytes()
    run_cli(
        ["repair", model, str(shard), "--out", str(tmp_path / "fixed"), "--unsafe-fixes"],
        expected_code=0,
    )
    assert len(_records(tmp_path / "fixed" / "train.tfrecord")) == 4


def test_a_damaged_header_before_megabytes_of_zeros_is_given_up_quickly(tmp_path: Path) -> None:
    """Zeros make every offset a plausible length: the search is bounded in CRC checks."""
    import time

    shard = tmp_path / "train.tfrecord"
    write_shard(shard, tokens(2))
    data = shard.read_bytes()
    shard.write_bytes(data + b"\x07" * 12 + bytes(16 * 1024 * 1024))
    start = time.perf_counter()
    bad = findings(diagnose_json(MODEL, str(shard)), "KF001")
    assert time.perf_counter() - start < 30
    assert "record 2" in bad[0]["what"] and "the rest is unreadable" in bad[0]["what"]


def test_augmentation_sees_records_in_the_parsed_shape(tmp_path: Path) -> None:
    shard = tmp_path / "images.tfrecord"
    gen = np.random.default_rng(2)
    write_shard(
        shard,
        [{"x": gen.random(192).astype(np.float32).tolist(), "y": [i % 3]} for i in range(8)],
    )
    model = str(FIXTURES / "tfrecord" / "image-size" / "model.keras")
    augment = str(FIXTURES / "augment" / "healthy" / "augment.py")
    flip = diagnose_json(model, str(shard), "--no-trace", "--augment", f"{augment}:flip", code=0)
    assert not [f for r in flip["results"] for f in r["findings"]]
    crop = diagnose_json(model, str(shard), "--no-trace", "--augment", f"{augment}:crop_to_6")
    assert "(8, 6, 6, 3)" in findings(crop, "KF502")[0]["what"]


def test_oov_id_maps_token_ids_in_records(tmp_path: Path) -> None:
    case = TFR / "ids-out-of-range"
    out = tmp_path / "fixed"
    args = ["repair", str(case / "model.keras"), str(case / "train.tfrecord"), "--out", str(out)]
    run_cli([*args, "--oov-id", "1", "--unsafe-fixes"], expected_code=0)
    before, after = _records(case / "train.tfrecord"), _records(out / "train.tfrecord")
    assert after[3]["tokens"][5] == 1 and after[7]["tokens"][0] == 1
    assert (
        sum(
            a != b
            for r, s in zip(before, after, strict=True)
            for a, b in zip(r["tokens"], s["tokens"], strict=True)
        )
        == 2
    )
