"""Importing TensorFlow without its noise on stderr, which belongs to kerasfix's own lines.

TF 2.21's absl/oneDNN lines are silenced only by all three environment variables
(shared/research/security.md); its C++ side also prints (`cudart_stub.cc: Could not find cuda
drivers`) before absl logging is set up, which no variable silences, so stderr is pointed at
/dev/null for the import itself. Python errors still propagate.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any


def quiet_environment() -> None:
    # kerasfix's Keras steps are written for TensorFlow (the tensorflow extra): whatever
    # backend ~/.keras/keras.json names, the child asks Keras on TensorFlow.
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("GLOG_minloglevel", "3")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_keras() -> Any:
    """`import keras` (and TensorFlow under it), quietly; a no-op once imported."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    quiet_environment()
    with native_stderr_silenced():
        import keras
    return keras
