"""The Keras child process: a death, a hang or a missing Keras is a note, never a dead run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerasfix.model.keras_child import KerasChild, KerasError, KerasUnavailable
from tests.conftest import FIXTURES


def _abort() -> None:
    os.abort()


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _raise() -> None:
    raise ValueError("Keras said no")


def _abort_like_tensorflow() -> None:
    """What TensorFlow does when it cannot start a thread: an absl fatal line, a stack dump,
    then abort()."""
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called\n")
    os.write(
        2,
        b"F0000 00:00:1796289027.884918   14374 env.cc:84] Check failed: ret == 0 (11 vs. 0) "
        b"Thread tf_data_private_threadpool creation via pthread_create() failed.\n"
        b"*** Check failure stack trace: ***\n    @     0x7f6c4c91d314  absl::SendToLog()\n",
    )
    os.abort()


def _resource() -> None:
    raise RuntimeError("can't start new thread")


def _missing() -> None:
    import keras_that_is_not_installed  # type: ignore[import-not-found]  # noqa: F401


def test_an_abort_in_the_child_is_a_reason_in_words_and_later_questions_get_it_at_once() -> None:
    with KerasChild() as child:
        with pytest.raises(KerasUnavailable, match=r"TensorFlow aborted \(SIGABRT\)"):
            child.call(_abort)
        started = time.monotonic()
        with pytest.raises(KerasUnavailable, match="SIGABRT"):
            child.call(_sleep, 0)
        assert time.monotonic() - started < 1


def test_an_abort_names_tensorflows_last_words_and_keeps_them_off_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with KerasChild() as child, pytest.raises(KerasUnavailable) as raised:
        child.call(_abort_like_tensorflow)
    assert raised.value.reason == (
        "TensorFlow aborted (SIGABRT): Check failed: ret == 0 (11 vs. 0) Thread "
        "tf_data_private_threadpool creation via pthread_create() failed"
    )
    assert "Check failed" not in capfd.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is a Linux limit here")
def test_an_abort_under_an_address_space_limit_says_out_of_address_space() -> None:
    script = (
        "from kerasfix.model.keras_child import KerasChild, KerasUnavailable\n"
        "from tests.model.test_keras_child import _abort_like_tensorflow\n"
        "try:\n"
        "    KerasChild().call(_abort_like_tensorflow)\n"
        "except KerasUnavailable as exc:\n"
        "    print(exc.reason)\n"
    )
    done = subprocess.run(
        ["bash", "-c", f'ulimit -v 2097152 && exec {sys.executable} -c "$0"', script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.startswith("TensorFlow aborted (out of address space): Check failed"), done
    assert "the address space is limited to 2097152 KiB (ulimit -v)" in done.stdout
    assert done.stderr == ""


def test_a_process_out_of_threads_or_memory_is_unavailable_not_a_verdict() -> None:
    with KerasChild() as child:
        with pytest.raises(KerasUnavailable, match=r"ran out of resources \(can't start new"):
            child.call(_resource)
        assert child.dead is not None


def test_a_question_past_its_time_is_abandoned_and_the_child_killed() -> None:
    with KerasChild(timeout=0.5) as child, pytest.raises(KerasUnavailable, match=r"than 0\.5 s"):
        child.call(_sleep, 30)


def test_an_exception_in_the_child_comes_back_as_kerasfix_error_and_the_child_serves_on() -> None:
    with KerasChild() as child:
        with pytest.raises(KerasError, match="ValueError: Keras said no"):
            child.call(_raise)
        assert child.call(_sleep, 0) == 0


def test_a_missing_module_other_than_keras_is_an_error_not_a_missing_install() -> None:
    with KerasChild() as child, pytest.raises(KerasUnavailable, match="could not be imported"):
        child.call(_missing)


def test_diagnose_of_an_architecture_json_builds_it_without_tensorflow_in_the_cli() -> None:
    folder = FIXTURES / "KF601" / "positive"
    script = (
        "import sys\n"
        "from kerasfix.cli import main\n"
        "sys.argv = ['kerasfix', 'diagnose', 'model.json']\n"
        "try:\n    main()\n"
        "except SystemExit as exc:\n"
        "    sys.stderr.write(f'exit={exc.code} tf={\"tensorflow\" in sys.modules}\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert "KF601 error  layer-chain-break" in done.stdout
    assert "exit=1 tf=False" in done.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is a Linux limit here")
@pytest.mark.parametrize("kib", [2097152, 1000000])
def test_under_an_address_space_limit_diagnose_ends_with_its_report_not_a_signal(
    kib: int, tmp_path: Path
) -> None:
    """`ulimit -v`, as hardened runners impose: where TensorFlow cannot load, the run goes on
    and says what it could not confirm (2 GiB is enough for TensorFlow 2.21 here; 1 GB not)."""
    folder = FIXTURES / "KF601" / "positive"
    done = subprocess.run(
        ["bash", "-c", f"ulimit -v {kib} && exec {sys.executable} -m kerasfix diagnose model.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr
    # Either Keras answered (the break is found) or it could not, and the report says so.
    if done.returncode == 1:
        assert "KF601 error  layer-chain-break" in done.stdout
    else:
        assert done.returncode == 0, done
        assert "Keras could not confirm that the architecture builds" in done.stdout
        assert "ulimit -v" in done.stdout or "address space" in done.stdout
