"""One frozen option set per run: no globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from kerasfix.findings import Severity
from kerasfix.loaders.keys import KeyOptions


@dataclass(frozen=True)
class DiagnoseOptions:
    keys: KeyOptions = field(default_factory=KeyOptions)
    y_file: str | None = None
    batch_size: int | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: Severity | None = Severity.ERROR  # None: never fail
    allow_pickle: bool = False
    trust_model: bool = False
    # How variable-length sequences are (to be) padded, as keras.utils.pad_sequences does.
    pad_value: float = 0
    padding: str = "pre"
    truncating: str = "pre"
    # Files whose data bytes equal an input already scanned (repair's header-only copies):
    # their values need not be read again.
    values_known: frozenset[str] = frozenset()
    # Ask Keras (importing TensorFlow) whether a length/size mismatch can be fixed by patching
    # the model's input instead of the data.
    trace_model: bool = True
    # Folder runs (issue 7): worker processes (None: one per core), a per-file time limit in
    # seconds, a Dask scheduler address, and fnmatch patterns choosing files.
    jobs: int | None = None
    file_timeout: float | None = None
    scheduler: str | None = None
    globs: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    # Image-class folders: the (height, width) images are resized to, as
    # image_dataset_from_directory(image_size=...) does; None: its default (256, 256).
    image_size: tuple[int, int] | None = None
    # `--augment FILE.py:FUNC` (runs the user's code: the flag is the opt-in) and its draws.
    augment: str | None = None
    draws: int = 8
    # Image-class folders: image_dataset_from_directory's color_mode (rgb, rgba, grayscale);
    # None: its default, rgb (every image decoded to 3 channels).
    color_mode: str | None = None
    # repair --oov-id N: the id that token ids an Embedding cannot look up (>= input_dim, or
    # negative) are mapped to (KF201/KF202, unsafe); None: no mapping is planned.
    oov_id: int | None = None
    # TFRecord shards: --compression none|gzip|zlib; None: detected from each shard.
    compression: str | None = None
