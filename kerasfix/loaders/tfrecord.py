"""TFRecord shards of `tf.train.Example` records, read without TensorFlow.

A TFRecord file is a sequence of framed records (TensorFlow's `tf_record.py`):

    uint64 length; uint32 masked_crc32c(length); bytes data[length]; uint32 masked_crc32c(data)

plain, or the whole stream GZIP- or ZLIB-compressed. Both CRCs are checked. A record whose
data CRC does not match is reported and skipped (its length was checked, so the next record is
where it says); a header whose CRC does not match is skipped by searching forward for the next
valid header, so the rest of the shard is still read. Memory stays flat: the file is read (and
decompressed) in blocks, records are parsed in chunks of RECORDS_PER_CHUNK, and only per-feature
statistics are kept.

`tf.train.Example` is parsed by the protobuf runtime (upb) with kerasfix's own copy of its
schema (example.proto), in a private descriptor pool so it never clashes with TensorFlow's. The
copy is wire-compatible with TensorFlow's but shaped for speed: the `feature` map is read as its
repeated entries, and the packed float/int64 lists as their raw bytes, which numpy turns into
arrays (a float list is its bytes; int64 varints are decoded in one vectorised pass). Turning
each value into a Python object through the runtime's containers cost 4-5x more (measured in
bench/tfrecords.py, figures in docs/design.md). A chunk of records is parsed in one call: the
records are joined with a marker entry between them, and protobuf's merge of concatenated
messages appends the entries in order. Unpacked lists (legal protobuf that TensorFlow never
writes) fall back to the runtime's typed parse.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from kerasfix.errors import DataReadError
from kerasfix.loaders.base import ArrayRef, DataFile

FORMAT = "tfrecord"
# `.tfrecord`, `.tfrecords`, TFDS's `name.tfrecord-00000-of-00064`, optionally compressed names.
_NAME = re.compile(r"\.tfrecords?(-\d+-of-\d+)?(\.(gz|gzip|zz|zlib))?$", re.IGNORECASE)
COMPRESSIONS = ("none", "gzip", "zlib")

# Bytes read (or decompressed) at a time.
BLOCK_BYTES = 4 * 1024 * 1024
# A record longer than this in a compressed stream (where the file size does not bound it) is
# not a real Example but a damaged or hostile length.
MAX_RECORD_BYTES = 256 * 1024 * 1024
# How far past a damaged header the next valid one is searched for, and how many candidate
# offsets (whose length looks plausible) may have their CRC computed on the way: a run of
# zero bytes makes every offset a candidate.
MAX_RESYNC_BYTES = 64 * 1024 * 1024
MAX_RESYNC_CHECKS = 200_000
# Records parsed together.
RECORDS_PER_CHUNK = 1024
# Bad records listed by name in a report; the rest are counted.
MAX_LISTED_BAD = 20
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_U32 = struct.Struct("<I")


def is_tfrecord_name(path: str) -> bool:
    return bool(_NAME.search(os.path.basename(path)))


@functools.cache
def _crc32c() -> Callable[[bytes], int]:
    import google_crc32c

    value: Callable[[bytes], int] = google_crc32c.value
    return value


def masked_crc(data: bytes) -> int:
    """TensorFlow's masked CRC32C of `data`."""
    crc = _crc32c()(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _header_ok(head: bytes) -> bool:
    return len(head) >= 12 and masked_crc(head[:8]) == _U32.unpack_from(head, 8)[0]


def detect_compression(path: str) -> str:
    """none, gzip or zlib: a valid first record header means plain; else the magic bytes."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if not head or _header_ok(head):
        return "none"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if len(head) >= 2 and (head[0] & 0x0F) == 8 and ((head[0] << 8) | head[1]) % 31 == 0:
        return "zlib"
    return "none"  # a plain shard whose first header is damaged: the framing reader says so


# --- framing -------------------------------------------------------------------------------


def _blocks(fh: IO[bytes], compression: str) -> Iterator[bytes]:
    """The uncompressed stream in blocks of at most BLOCK_BYTES (decompression is bounded by
    max_length, so a compression bomb never inflates more than a block at a time)."""
    if compression == "none":
        while block := fh.read(BLOCK_BYTES):
            yield block
        return
    wbits = 31 if compression == "gzip" else 15
    inflate = zlib.decompressobj(wbits)
    pending = b""
    while True:
        if not pending:
            pending = fh.read(BLOCK_BYTES)
            if not pending:
                break
        out = inflate.decompress(pending, BLOCK_BYTES)
        pending = inflate.unconsumed_tail
        if out:
            yield out
        if inflate.eof:
            rest = inflate.unused_data + pending
            pending = rest
            if not rest.strip(b"\x00"):
                return
            if compression == "gzip" and rest[:2] == b"\x1f\x8b":  # a multi-member GZIP
                inflate = zlib.decompressobj(wbits)
                continue
            raise zlib.error(f"{len(rest)} bytes of trailing data after the compressed stream")
    if not inflate.eof:
        raise EOFError("the compressed stream ends before its end marker (a truncated file)")


class _Stream:
    """The uncompressed bytes of a shard with a read position: exact reads, look-ahead for
    resynchronising, and the stream offset of every byte."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._buf = b""
        self._pos = 0
        self.offset = 0  # stream offset of the read position
        self.eof = False
        # A damaged compressed stream: raised only when a read needs bytes past the damage.
        self.error: Exception | None = None

    def _fill(self, need: int) -> None:
        if len(self._buf) - self._pos >= need or self.eof:
            return
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        while have < need:
            try:
                block = next(self._blocks, None)
            except (zlib.error, EOFError) as exc:
                self.error, block = exc, None
            if block is None:
                self.eof = True
                break
            parts.append(block)
            have += len(block)
        self._buf = b"".join(parts)
        self._pos = 0

    def record(self, cap: int) -> tuple[bytes, int] | None:
        """The common case in one step: a whole record whose length CRC matches and whose
        length is at most `cap`: (data, its stored CRC). None leaves the position as it was,
        for the careful path to say what is wrong."""
        if len(self._buf) - self._pos < 12:
            self._fill(BLOCK_BYTES)
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 12:
            return None
        length, length_crc = _HEADER.unpack_from(buf, pos)
        if length > cap or masked_crc(buf[pos : pos + 8]) != length_crc:
            return None
        need = 16 + length
        if len(buf) - pos < need:
            self._fill(need)
            buf, pos = self._buf, self._pos
            if len(buf) - pos < need:
                return None
        self._pos = pos + need
        self.offset += need
        return buf[pos + 12 : pos + 12 + length], _U32.unpack_from(buf, pos + 12 + length)[0]

    def take(self, n: int) -> bytes:
        self._fill(n)
        if len(self._buf) - self._pos < n and self.error is not None:
            raise self.error
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        self.offset += len(data)
        return data

    def window(self, n: int) -> bytes:
        """Up to n bytes from the read position, without consuming them."""
        self._fill(n)
        return self._buf[self._pos : self._pos + n]

    def skip(self, n: int) -> None:
        self._fill(n)
        n = min(n, len(self._buf) - self._pos)
        self._pos += n
        self.offset += n


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be read: its position in the shard and why."""

    index: int
    offset: int  # of its header, in the uncompressed stream
    reason: str
    end: int  # stream offset where reading went on (the next record), or -1: nothing after it


class Record:
    """One record's data (a slotted class, not a frozen dataclass: a shard yields hundreds
    of thousands, and a frozen dataclass costs a microsecond each to create)."""

    __slots__ = ("data", "index", "offset")

    def __init__(self, index: int, offset: int, data: bytes) -> None:
        self.index = index
        self.offset = offset
        self.data = data


def _resync(stream: _Stream, limit: int | None) -> int | None:
    """Skip to the next offset holding a valid record header (the length's CRC matches and
    the length fits what is left); None when none is found within MAX_RESYNC_BYTES."""
    scanned = checks = 0
    while scanned < MAX_RESYNC_BYTES and checks < MAX_RESYNC_CHECKS:
        window = stream.window(min(BLOCK_BYTES, MAX_RESYNC_BYTES - scanned) + 12)
        if len(window) < 16:
            return None
        raw = np.frombuffer(window, dtype=np.uint8)
        n = len(window)
        # A plausible length has its top bytes zero (under 2**40): few offsets pass.
        top = (raw[5 : n - 7] == 0) & (raw[6 : n - 6] == 0) & (raw[7 : n - 5] == 0)
        for p in np.flatnonzero(top).tolist():
            checks += 1
            if checks > MAX_RESYNC_CHECKS:
                return None
            head = window[p : p + 12]
            if _header_ok(head):
                length = _HEADER.unpack_from(head)[0]
                if limit is None or length <= limit - (stream.offset + p) - 16:
                    stream.skip(p)
                    return stream.offset
        step = n - 12
        stream.skip(step)
        scanned += step
    return None


def iter_framed(path: str, compression: str | None = None) -> Iterator[Record | BadRecord]:
    """Every record of a shard in order, or the reason it cannot be read. Raises
    DataReadError only when the file itself cannot be opened."""
    compression = compression or detect_compression(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the generator ends
    except OSError as exc:
        raise DataReadError(exc.strerror or str(exc)) from None
    size = os.fstat(fh.fileno()).st_size
    limit = size if compression == "none" else None
    stream = _Stream(_blocks(fh, compression))
    index = 0
    crc32c = _crc32c()
    header, footer = _HEADER.unpack_from, _U32.unpack_from
    try:
        while True:
            # The common case, with the block's bytes in local variables: every whole record
            # in the buffer whose length CRC matches. Anything else goes to the careful path.
            buf, pos = stream._buf, stream._pos
            base = stream.offset - pos  # stream offset of buf[0]
            end = len(buf)
            while end - pos >= 16:
                length, length_crc = header(buf, pos)
                crc = crc32c(buf[pos : pos + 8])
                if (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF != length_crc:
                    break
                if length > (MAX_RECORD_BYTES if limit is None else limit - base - pos - 16):
                    break
                following = pos + 16 + length
                if following > end:
                    break
                data = buf[pos + 12 : pos + 12 + length]
                crc = crc32c(data)
                if (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF == footer(
                    buf, following - 4
                )[0]:
                    yield Record(index, base + pos, data)
                else:
                    yield BadRecord(
                        index, base + pos, "the data CRC does not match", base + following
                    )
                index += 1
                pos = following
            stream.offset += pos - stream._pos
            stream._pos = pos
            offset = stream.offset
            try:
                cap = MAX_RECORD_BYTES if limit is None else limit - offset - 16
                found_record = stream.record(cap)
                if found_record is not None:
                    data, stored = found_record
                    if masked_crc(data) == stored:
                        yield Record(index, offset, data)
                    else:
                        yield BadRecord(index, offset, "the data CRC does not match", stream.offset)
                    index += 1
                    continue
                head = stream.take(12)
                if not head:
                    return
                if len(head) < 12:
                    yield BadRecord(
                        index,
                        offset,
                        f"the file ends inside a record header ({len(head)} of 12 bytes)",
                        -1,
                    )
                    return
                length, length_crc = _HEADER.unpack(head)
                if masked_crc(head[:8]) != length_crc:
                    found = _resync(stream, limit)
                    if found is None:
                        yield BadRecord(
                            index,
                            offset,
                            "the length CRC does not match, and no valid record follows "
                            f"(searched up to {MAX_RESYNC_BYTES} bytes): the rest is unreadable",
                            -1,
                        )
                        return
                    yield BadRecord(
                        index,
                        offset,
                        f"the length CRC does not match; {found - offset} bytes "
                        f"skipped to the next valid record at offset {found}",
                        found,
                    )
                    index += 1
                    continue
                if limit is not None and length > limit - offset - 16:
                    yield BadRecord(
                        index,
                        offset,
                        f"declares {length} bytes, but the file ends after "
                        f"{max(0, limit - offset - 12)}: a truncated file",
                        -1,
                    )
                    return
                if limit is None and length > MAX_RECORD_BYTES:
                    yield BadRecord(
                        index,
                        offset,
                        f"declares {length} bytes, more than a record may hold "
                        f"({MAX_RECORD_BYTES})",
                        -1,
                    )
                    return
                body = stream.take(length + 4)
                if len(body) < length + 4:
                    yield BadRecord(
                        index,
                        offset,
                        f"declares {length} bytes, but the stream ends after "
                        f"{max(0, len(body) - 4)}: a truncated file",
                        -1,
                    )
                    return
                data = body[:length]
                if masked_crc(data) != _U32.unpack_from(body, length)[0]:
                    yield BadRecord(index, offset, "the data CRC does not match", stream.offset)
                else:
                    yield Record(index, offset, data)
                index += 1
            except (zlib.error, EOFError) as exc:
                name = "GZIP" if compression == "gzip" else "ZLIB"
                yield BadRecord(
                    index,
                    offset,
                    f"the {name} stream is damaged after {stream.offset} "
                    f"uncompressed bytes ({exc}): the rest is unreadable",
                    -1,
                )
                return
    finally:
        fh.close()


# --- tf.train.Example ------------------------------------------------------------------------


@functools.cache
def _schema() -> dict[str, Any]:
    """Message classes for example.proto in a private pool: the raw reading schema (map read
    as repeated entries, packed numeric lists as bytes, plus a marker field) and the typed one
    (for unpacked lists, and for writing)."""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="kerasfix/example.proto", package="kerasfix", syntax="proto3"
    )

    def message(name: str, *fields: tuple[int, str, int, int, str | None]) -> None:
        msg = proto.message_type.add(name=name)
        for number, fname, ftype, label, type_name in fields:
            f = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".kerasfix.{type_name}"

    one, rep, msg_t = F.LABEL_OPTIONAL, F.LABEL_REPEATED, F.TYPE_MESSAGE
    message("BytesList", (1, "value", F.TYPE_BYTES, rep, None))
    message("RawList", (1, "value", F.TYPE_BYTES, one, None))
    message("FloatList", (1, "value", F.TYPE_FLOAT, rep, None))
    message("Int64List", (1, "value", F.TYPE_INT64, rep, None))
    for prefix, numeric in (("Raw", "RawList"), ("", None)):
        message(
            f"{prefix}Feature",
            (1, "bytes_list", msg_t, one, "BytesList"),
            (2, "float_list", msg_t, one, numeric or "FloatList"),
            (3, "int64_list", msg_t, one, numeric or "Int64List"),
        )
        feature = proto.message_type[-1]
        feature.oneof_decl.add(name="kind")
        for f in feature.field:
            f.oneof_index = 0
        entry: list[tuple[int, str, int, int, str | None]] = [
            (1, "key", F.TYPE_BYTES, one, None),
            (2, "value", msg_t, one, f"{prefix}Feature"),
        ]
        if prefix:
            entry.append((15, "end", F.TYPE_BOOL, one, None))  # the chunk marker
        message(f"{prefix}Entry", *entry)
        message(f"{prefix}Features", (1, "feature", msg_t, rep, f"{prefix}Entry"))
        message(f"{prefix}Example", (1, "features", msg_t, one, f"{prefix}Features"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    classes = {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"kerasfix.{name}"))
        for name in ("RawExample", "Example", "Feature", "RawEntry")
    }
    marker = classes["RawExample"]()
    marker.features.feature.add().end = True
    classes["marker"] = marker.SerializeToString()
    return classes


def example_class() -> Any:
    """The typed tf.train.Example class (kerasfix's copy): for writing records."""
    return _schema()["Example"]


KINDS = {"int64_list": "int64", "float_list": "float32", "bytes_list": "bytes"}


@dataclass
class Column:
    """One feature of one kind across a chunk of records: the record indices holding it and
    each record's payload (packed bytes for numbers; the values for bytes lists)."""

    records: list[int] = field(default_factory=list)
    payloads: list[Any] = field(default_factory=list)


def _encode_varints(values: Any) -> bytes:
    out = bytearray()
    for v in values:
        v = int(v) & 0xFFFFFFFFFFFFFFFF
        while True:
            b = v & 0x7F
            v >>= 7
            if v:
                out.append(b | 0x80)
            else:
                out.append(b)
                break
    return bytes(out)


def _unpacked(feature: Any, kind: str) -> bytes:
    """An unpacked numeric list (legal protobuf; TensorFlow never writes it), read with the
    typed schema and packed again."""
    typed = _schema()["Feature"].FromString(feature.SerializeToString())
    values = getattr(typed, kind).value
    if kind == "float_list":
        return np.asarray(values, dtype="<f4").tobytes()
    return _encode_varints(values)


def _add_entries(
    entries: Any, indices: list[int], columns: dict[tuple[bytes, str], Column], marker: bool
) -> bool:
    """Sort a parsed chunk's entries into columns; False when the markers do not line up with
    the records (then the chunk is parsed record by record)."""
    r = 0
    count = len(indices)
    index = indices[0] if count else -1
    seen: dict[bytes, str] = {}
    for entry in entries:
        key: bytes = entry.key
        if not key and marker and entry.end:  # markers have no key: one attribute less
            r += 1
            seen.clear()
            if r > count:
                return False
            index = indices[r] if r < count else -1
            continue
        if r >= count:
            return False
        feature = entry.value
        kind = feature.WhichOneof("kind")
        payload: Any
        if kind is None:
            kind, payload = "none", b""
        else:
            part = getattr(feature, kind)
            payload = part.value
            if kind == "bytes_list":
                payload = list(payload)
            elif not payload and part.ByteSize():
                payload = _unpacked(feature, kind)
        if key in seen:  # a key twice in one record: the map keeps the last
            old = columns[(key, seen[key])]
            del old.records[-1], old.payloads[-1]
        seen[key] = kind
        column = columns.get((key, kind))
        if column is None:
            column = columns[(key, kind)] = Column()
        column.records.append(index)
        column.payloads.append(payload)
    return r == count if marker else True


def _add_uniform(
    entries: Any, indices: list[int], columns: dict[tuple[bytes, str], Column]
) -> bool:
    """The common case with fewer Python steps per entry: every record holds the same features
    in the same order with the same kinds (each record's entries, then its marker). False,
    having added nothing, when the chunk is not like that."""
    keys = [e.key for e in entries]
    count = len(indices)
    width = keys.index(b"") if b"" in keys else -1
    if width < 1 or len(keys) != count * (width + 1) or len(set(keys[:width])) != width:
        return False
    step = width + 1
    if keys[width::step].count(b"") != count or not all(e.end for e in entries[width::step]):
        return False
    features = [e.value for e in entries]
    found: list[tuple[bytes, str, list[Any]]] = []
    for j in range(width):
        if keys[j::step].count(keys[j]) != count:
            return False
        column = features[j::step]
        kinds = {f.WhichOneof("kind") for f in column}
        if len(kinds) != 1 or None in kinds:
            return False
        kind = kinds.pop()
        found.append((keys[j], kind, column))
    for key, kind, column in found:
        payloads: list[Any] = [getattr(f, kind).value for f in column]
        if kind == "bytes_list":
            payloads = [list(p) for p in payloads]
        elif not all(payloads):  # empty lists, or unpacked ones: look closer
            payloads = [p or _payload_of(f, kind) for p, f in zip(payloads, column, strict=True)]
        columns[(key, kind)] = Column(list(indices), payloads)
    return True


def _payload_of(feature: Any, kind: str) -> bytes:
    part = getattr(feature, kind)
    return _unpacked(feature, kind) if part.ByteSize() else b""


def parse_chunk(
    records: list[Record],
) -> tuple[dict[tuple[bytes, str], Column], list[BadRecord]]:
    """The features of a chunk of records, by (name, kind); records that are not
    tf.train.Example come back as BadRecords."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    schema = _schema()
    raw_example = schema["RawExample"]
    columns: dict[tuple[bytes, str], Column] = {}
    bad: list[BadRecord] = []
    try:
        merged = raw_example.FromString(
            schema["marker"].join(r.data for r in records) + schema["marker"]
        )
        indices = [r.index for r in records]
        entries = merged.features.feature
        if _add_uniform(entries, indices, columns):
            return columns, bad
        if _add_entries(entries, indices, columns, True):
            return columns, bad
    except DecodeError:
        pass
    columns = {}
    for record in records:
        try:
            example = raw_example.FromString(record.data)
        except DecodeError as exc:
            bad.append(
                BadRecord(
                    record.index,
                    record.offset,
                    f"not a tf.train.Example ({exc or 'DecodeError'})",
                    record.offset,
                )
            )
            continue
        _add_entries(example.features.feature, [record.index], columns, False)
    return columns, bad


def decode_varints(raw: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The int64 values of concatenated protobuf varints (uint8 array), in one vectorised pass
    per byte position; ValueError for a varint longer than 10 bytes or cut short."""
    if not raw.size:
        return np.zeros(0, dtype=np.int64)
    ends = np.flatnonzero(raw < 0x80)
    if not ends.size or ends[-1] != raw.size - 1:
        raise ValueError("a varint is cut short")
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    longest = int(lengths.max())
    if longest > 10:
        raise ValueError("a varint is longer than 10 bytes")
    padded = np.concatenate((raw, np.zeros(10, dtype=np.uint8)))
    out = (padded[starts] & 0x7F).astype(np.uint64)
    for j in range(1, longest):
        part = (padded[starts + j] & 0x7F).astype(np.uint64)
        part[lengths <= j] = 0
        out |= part << np.uint64(7 * j)
    return out.view(np.int64)


@dataclass
class Values:
    """One numeric feature's values over a chunk: per record (index, count) and all values."""

    records: np.ndarray[Any, Any]
    lengths: np.ndarray[Any, Any]
    flat: np.ndarray[Any, Any]


def decode_column(column: Column, kind: str) -> tuple[Values, list[int]]:
    """A numeric column as arrays; records whose payload is malformed are left out and
    returned by index."""
    payloads: list[bytes] = column.payloads
    sizes = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    records = np.asarray(column.records, dtype=np.int64)
    joined = b"".join(payloads)
    if kind == "float_list":
        malformed = np.flatnonzero(sizes % 4)
        if malformed.size:
            keep = sizes % 4 == 0
            rest = Column(
                [r for r, k in zip(column.records, keep, strict=True) if k],
                [p for p, k in zip(payloads, keep, strict=True) if k],
            )
            values, _ = decode_column(rest, kind)
            return values, [int(records[i]) for i in malformed]
        return Values(records, sizes // 4, np.frombuffer(joined, dtype="<f4")), []
    raw = np.frombuffer(joined, dtype=np.uint8)
    ends = np.cumsum(sizes)
    nonempty = sizes > 0
    cut = np.zeros(len(sizes), dtype=bool)
    cut[nonempty] = raw[ends[nonempty] - 1] >= 0x80
    try:
        if cut.any():
            raise ValueError
        flat = decode_varints(raw)
    except ValueError:
        # A malformed record: find it by decoding record by record (rare).
        good = [i for i, p in enumerate(payloads) if _varints_ok(p)]
        bad = sorted(set(range(len(payloads))) - set(good))
        if not bad:  # pragma: no cover - every payload decodes alone, so the whole does
            raise
        rest = Column([column.records[i] for i in good], [payloads[i] for i in good])
        values, _ = decode_column(rest, kind)
        return values, [int(records[i]) for i in bad]
    terminators = np.concatenate(([0], np.cumsum(raw < 0x80)))
    starts = ends - sizes
    lengths = terminators[ends] - terminators[starts]
    return Values(records, lengths, flat), []


def _varints_ok(payload: bytes) -> bool:
    try:
        decode_varints(np.frombuffer(payload, dtype=np.uint8))
    except ValueError:
        return False
    return True


# --- the survey: one pass, every feature's statistics ----------------------------------------


@dataclass
class ImageStats:
    """What the headers of a bytes feature's images say (the first value of each record)."""

    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)  # (height, width)
    channels: Counter[int] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)  # "32x32" / "grayscale" -> rows
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    unreadable_count: int = 0
    images: int = 0
    not_images: int = 0


@dataclass
class FeatureSurvey:
    """One feature of a shard: where it is, its kinds, its lengths, its values."""

    name: str
    kinds: Counter[str] = field(default_factory=Counter)  # records per kind
    first_of_kind: dict[str, int] = field(default_factory=dict)
    present: int = 0
    first_present: int | None = None
    lengths: Counter[int] = field(default_factory=Counter)  # records per list length
    first_length: int | None = None  # the length of the first record holding it
    first_other_length: int | None = None  # the first record whose length differs
    # Value statistics (stats.ArrayStats), by a label loss's ignore_class (None: all values).
    stats: dict[int | None, Any] = field(default_factory=dict)
    images: ImageStats | None = None
    missing_first: int | None = None  # filled by the shard survey at the end

    @property
    def kind(self) -> str:
        return max(self.kinds, key=lambda k: (self.kinds[k], k != "none")) if self.kinds else "none"

    @property
    def ragged(self) -> bool:
        return len(self.lengths) > 1

    @property
    def min_length(self) -> int:
        return min(self.lengths) if self.lengths else 0

    @property
    def max_length(self) -> int:
        return max(self.lengths) if self.lengths else 0

    @property
    def is_images(self) -> bool:
        found = self.images
        return found is not None and found.images > 0 and found.images >= found.not_images


@dataclass
class ShardSurvey:
    """Everything one pass over a shard found."""

    compression: str
    records: int = 0  # readable tf.train.Example records
    total: int = 0  # records counted, the bad ones included
    bad: list[BadRecord] = field(default_factory=list)
    bad_count: int = 0
    features: dict[str, FeatureSurvey] = field(default_factory=dict)
    first_good: int | None = None  # the first readable record's index

    def add_bad(self, record: BadRecord) -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_LISTED_BAD:
            self.bad.append(record)

    def missing(self, name: str) -> int:
        feature = self.features.get(name)
        return self.records - (feature.present if feature else 0)


@dataclass(frozen=True)
class SurveyPlan:
    """What the value statistics must count, for every feature alike (which feature feeds
    which input is known only once all are seen): the model's Embedding input_dims and output
    units, the pad value, and the ignore_class of any loss."""

    thresholds: tuple[int, ...] = ()
    pad_value: float | None = 0.0
    ignore_values: tuple[int, ...] = ()


def _scan_plan(plan: SurveyPlan, ignore: int | None) -> Any:
    from kerasfix.stats import ScanPlan

    return ScanPlan(
        finite=True,
        value_range=True,
        thresholds=plan.thresholds,
        onehot=True,
        pad_value=plan.pad_value,
        ignore_value=ignore,
    )


def _add_numeric(feature: FeatureSurvey, values: Values, plan: SurveyPlan) -> None:
    from kerasfix.stats import ArrayStats, add_flat

    lengths = values.lengths
    unique, counts = np.unique(lengths, return_counts=True)
    for length, count in zip(unique.tolist(), counts.tolist(), strict=True):
        feature.lengths[length] += count
    if feature.first_length is None and lengths.size:
        feature.first_length = int(lengths[0])
    if feature.first_other_length is None and feature.first_length is not None:
        other = np.flatnonzero(lengths != feature.first_length)
        if other.size:
            feature.first_other_length = int(values.records[other[0]])
    for ignore in (None, *plan.ignore_values):
        stats = feature.stats.setdefault(ignore, ArrayStats(at_or_above={}))
        add_flat(stats, _scan_plan(plan, ignore), values.flat, lengths, values.records)


def _add_bytes(feature: FeatureSurvey, column: Column) -> None:
    from kerasfix.loaders.images import header_of_bytes, looks_like_image

    found = feature.images or ImageStats()
    feature.images = found
    for record, values in zip(column.records, column.payloads, strict=True):
        feature.lengths[len(values)] += 1
        if feature.first_length is None:
            feature.first_length = len(values)
        elif feature.first_other_length is None and len(values) != feature.first_length:
            feature.first_other_length = record
        if not values:
            continue
        data = values[0]
        if not looks_like_image(data):
            found.not_images += 1
            if found.images:  # an image feature holding something else
                _unreadable(found, record, "not an image (no image file signature)")
            continue
        try:
            width, height, channels, fmt = header_of_bytes(data)
        except DataReadError as exc:
            _unreadable(found, record, exc.reason)
            continue
        found.images += 1
        found.sizes[(height, width)] += 1
        found.channels[channels] += 1
        found.formats[fmt] += 1
        for key in (f"{width}x{height}", f"{channels}ch"):
            rows = found.examples.setdefault(key, [])
            if len(rows) < 3:
                rows.append(record)


def _unreadable(found: ImageStats, record: int, reason: str) -> None:
    found.unreadable_count += 1
    if len(found.unreadable) < MAX_LISTED_BAD:
        found.unreadable.append((record, reason))


def survey(
    path: str, plan: SurveyPlan | None = None, compression: str | None = None
) -> ShardSurvey:
    """One pass over a shard: every record's framing checked, every Example parsed, each
    feature's kinds, lengths and value statistics gathered."""
    plan = plan or SurveyPlan()
    compression = compression or detect_compression(path)
    shard = ShardSurvey(compression)
    chunk: list[Record] = []

    def flush() -> None:
        columns, bad = parse_chunk(chunk)
        bad_indices = {b.index for b in bad}
        for record in bad:
            shard.add_bad(record)
        good = [r.index for r in chunk if r.index not in bad_indices] if bad else None
        malformed: dict[int, str] = {}
        counts: dict[str, int] = {}
        firsts: dict[str, int] = {}
        for (key, kind), column in columns.items():
            name = key.decode("utf-8", "backslashreplace")
            if name not in shard.features and shard.records and shard.first_good is not None:
                # First seen now: every readable record before this chunk lacks it.
                shard.features[name] = FeatureSurvey(name, missing_first=shard.first_good)
            feature = shard.features.setdefault(name, FeatureSurvey(name))
            feature.kinds[kind] += len(column.records)
            feature.first_of_kind.setdefault(kind, column.records[0])
            feature.present += len(column.records)
            counts[name] = counts.get(name, 0) + len(column.records)
            firsts[name] = min(firsts.get(name, column.records[0]), column.records[0])
            if kind in ("int64_list", "float_list"):
                values, broken = decode_column(column, kind)
                for index in broken:
                    malformed.setdefault(index, f"feature '{name}' holds a malformed {kind}")
                    feature.present -= 1
                _add_numeric(feature, values, plan)
            elif kind == "bytes_list":
                _add_bytes(feature, column)
            else:
                feature.lengths[0] += len(column.records)
        if malformed:
            offsets = {r.index: r.offset for r in chunk}
            for index, reason in sorted(malformed.items()):
                shard.add_bad(BadRecord(index, offsets.get(index, -1), reason, -1))
        if good is None:
            good = [r.index for r in chunk]
        if malformed:
            good = [i for i in good if i not in malformed]
        shard.records += len(good)
        if good and shard.first_good is None:
            shard.first_good = good[0]
        for name, feature in shard.features.items():
            if feature.first_present is None and name in firsts:
                feature.first_present = firsts[name]
            if feature.missing_first is None and counts.get(name, 0) < len(good):
                rows = {
                    r
                    for (k, _), c in columns.items()
                    if k.decode("utf-8", "backslashreplace") == name
                    for r in c.records
                }
                feature.missing_first = next((i for i in good if i not in rows), None)
        chunk.clear()

    for item in iter_framed(path, compression):
        shard.total += 1
        if isinstance(item, BadRecord):
            shard.add_bad(item)
            continue
        chunk.append(item)
        if len(chunk) >= RECORDS_PER_CHUNK:
            flush()
    if chunk:
        flush()
    return shard


def read_tfrecord(
    path: str, plan: SurveyPlan | None = None, compression: str | None = None
) -> DataFile:
    """A shard as a DataFile: one ArrayRef per feature (shape by record), the survey kept
    for the checks; DataReadError when no record can be read at all."""
    shard = survey(path, plan, compression)
    if not shard.total:
        raise DataReadError("an empty TFRecord file: no records")
    if not shard.records:
        first = shard.bad[0]
        raise DataReadError(
            f"no record can be read: record {first.index} at offset {first.offset}: {first.reason}"
        )
    result = DataFile(path=path, format=FORMAT, records=shard)
    for name, feature in sorted(shard.features.items()):
        result.arrays[name] = feature_ref(path, feature)
    return result


def feature_ref(path: str, feature: FeatureSurvey) -> ArrayRef:
    """How a feature reads once parsed: (records, length) lists of one length; (records,)
    token lists of several (ragged); (records, height, width, channels) encoded images, at
    their most common size."""
    kind = feature.kind
    rows = feature.present
    if kind == "bytes_list" and feature.is_images:
        found = feature.images
        assert found is not None
        height, width = max(found.sizes, key=lambda s: (found.sizes[s], s))
        channels = max(found.channels, key=lambda c: (found.channels[c], c == 3))
        return ArrayRef(path, feature.name, (rows, height, width, channels), "uint8", "u")
    dtype = {"int64_list": "int64", "float_list": "float32", "bytes_list": "bytes"}.get(
        kind, "float32"
    )
    numpy_kind = {"int64_list": "i", "float_list": "f", "bytes_list": "S"}.get(kind, "f")
    if feature.ragged:
        return ArrayRef(path, feature.name, (rows,), dtype, numpy_kind, ragged=True)
    return ArrayRef(path, feature.name, (rows, feature.first_length or 0), dtype, numpy_kind)


def stats_for(feature: FeatureSurvey, maxlen: int | None, ignore: int | None) -> Any:
    """The feature's value statistics as one scan with this plan would give them: the
    truncation counts for `maxlen` come from the length histogram."""
    from kerasfix.stats import ArrayStats

    stats = feature.stats.get(ignore) or feature.stats.get(None)
    if stats is None:
        return None
    assert isinstance(stats, ArrayStats)
    longer = tokens_over = 0
    if maxlen is not None:
        for length, count in feature.lengths.items():
            if length > maxlen:
                longer += count
                tokens_over += (length - maxlen) * count
    lengths = [n for n in feature.lengths if feature.lengths[n]]
    return dataclasses.replace(
        stats,
        min_length=min(lengths) if lengths else None,
        max_length=max(lengths) if lengths else None,
        longer=longer,
        tokens_over=tokens_over,
    )


# --- reading one feature again (repair's --verify-fit, --augment) -----------------------------


def iter_feature(path: str, name: str) -> Iterator[tuple[list[int], list[np.ndarray[Any, Any]]]]:
    """(record indices, one array per record) of one numeric feature, chunk by chunk."""
    key = name.encode()
    chunk: list[Record] = []

    def values() -> tuple[list[int], list[np.ndarray[Any, Any]]]:
        columns, _ = parse_chunk(chunk)
        rows: list[tuple[int, np.ndarray[Any, Any]]] = []
        for (k, kind), column in columns.items():
            if k != key or kind not in ("int64_list", "float_list"):
                continue
            decoded, _ = decode_column(column, kind)
            bounds = np.concatenate(([0], np.cumsum(decoded.lengths)))
            for i, record in enumerate(decoded.records.tolist()):
                rows.append((record, decoded.flat[bounds[i] : bounds[i + 1]]))
        rows.sort(key=lambda pair: pair[0])
        return [r for r, _ in rows], [v for _, v in rows]

    for item in iter_framed(path):
        if isinstance(item, Record):
            chunk.append(item)
        if len(chunk) >= RECORDS_PER_CHUNK:
            yield values()
            chunk.clear()
    if chunk:
        yield values()


def iter_chunks(ref: ArrayRef) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    """(first row, rows) of a fixed-length numeric feature; rows count the records that hold
    it."""
    if ref.kind not in "if":
        raise DataReadError(f"feature '{ref.key}' holds {ref.dtype} values, not numbers")
    row = 0
    for _, arrays in iter_feature(ref.path, ref.key or ""):
        if arrays:
            yield row, np.stack(arrays).astype(ref.dtype, copy=False)
            row += len(arrays)


def iter_sequences(ref: ArrayRef) -> Iterator[tuple[int, list[np.ndarray[Any, Any]]]]:
    row = 0
    for _, arrays in iter_feature(ref.path, ref.key or ""):
        if arrays:
            yield row, arrays
            row += len(arrays)


# --- writing ---------------------------------------------------------------------------------


def frame(data: bytes) -> bytes:
    """One record as TensorFlow frames it."""
    length = struct.pack("<Q", len(data))
    return length + _U32.pack(masked_crc(length)) + data + _U32.pack(masked_crc(data))


class RecordWriter:
    """Framed records into an open file, compressed as the source was."""

    def __init__(self, fh: IO[bytes], compression: str) -> None:
        self._fh = fh
        self._deflate: Any = None
        if compression == "gzip":
            self._deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        elif compression == "zlib":
            self._deflate = zlib.compressobj(6, zlib.DEFLATED, 15)

    def write_raw(self, data: bytes) -> None:
        self._fh.write(self._deflate.compress(data) if self._deflate else data)

    def write(self, record: bytes) -> None:
        self.write_raw(frame(record))

    def close(self) -> None:
        if self._deflate is not None:
            self._fh.write(self._deflate.flush())


def raw_regions(path: str, compression: str) -> Callable[[int, int], bytes]:
    """A reader of the uncompressed stream's bytes [start, end) (end -1: to the end), for
    copying unreadable regions into a repaired shard as they were."""

    def read(start: int, end: int) -> bytes:
        with open(path, "rb") as fh:
            stream = _Stream(_blocks(fh, compression))
            stream.skip(start)
            out = bytearray()
            while end < 0 or stream.offset < end:
                want = BLOCK_BYTES if end < 0 else min(BLOCK_BYTES, end - stream.offset)
                try:
                    part = stream.take(want)
                except (zlib.error, EOFError):
                    break
                if not part:
                    break
                out += part
            return bytes(out)

    return read
