"""A Ctrl-C stays a Ctrl-C: noted while watched, and the error a library puts in its place
(torch does, under safetensors' slice reads) is reported as the interrupt, never as an item's
failure or a usage error."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import typer

from dso.cli_errors import INTERRUPTED, user_errors
from dso.interrupts import reraise_if_interrupted, watching
from dso.physics import check_mesh


@pytest.fixture(autouse=True)
def python_sigint():
    """SIGINT as Python handles it in a terminal, also where the tests run as a background job
    (whose shell starts them with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _ctrl_c_swallowed() -> None:
    """A real SIGINT, whose KeyboardInterrupt a library replaced with its own error."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises here, at once
    except KeyboardInterrupt:
        raise ValueError("could not determine the shape of object type 'UntypedStorage'"
                         ) from None
    raise AssertionError("SIGINT did not interrupt")


def test_watching_notes_sigint_and_restores_the_default_handler():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with watching() as ctrl_c:
        assert not ctrl_c.hit
        reraise_if_interrupted()  # nothing arrived: a no-op
        with pytest.raises(ValueError):
            _ctrl_c_swallowed()
        assert ctrl_c.hit
        with pytest.raises(KeyboardInterrupt):
            reraise_if_interrupted()
        with watching() as inner:  # nested: the outer note
            assert inner is ctrl_c
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    reraise_if_interrupted()  # no longer watched: a no-op again


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with watching() as ctrl_c:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert not ctrl_c.hit
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_replaced_interrupt_exits_130_not_2(capsys):
    with pytest.raises(typer.Exit) as stop, user_errors(on_interrupt="rerun it"):
        _ctrl_c_swallowed()
    assert stop.value.exit_code == INTERRUPTED
    assert capsys.readouterr().err.strip() == "interrupted: rerun it"
    # the same error without a Ctrl-C is the user error it says it is
    with pytest.raises(typer.Exit) as stop, user_errors():
        raise ValueError("bad value")
    assert stop.value.exit_code == 2
    assert capsys.readouterr().err.strip() == "error: bad value"


def test_the_oracle_does_not_record_an_interrupt_as_the_mesh_failing():
    empty = (np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
    assert check_mesh(empty).status == "error"  # a real item failure, recorded as such
    with watching():
        with pytest.raises(ValueError):
            _ctrl_c_swallowed()
        with pytest.raises(KeyboardInterrupt):
            check_mesh(empty)


WORKER = """
import os, signal, time
from dso.interrupts import busy, reraise_if_interrupted, watch_worker
watch_worker()
os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2)  # idle: ignored
reraise_if_interrupted()
try:
    with busy():
        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)
except KeyboardInterrupt:
    pass
try:
    reraise_if_interrupted()
except KeyboardInterrupt:
    print("idle ignored, busy interrupted and noted")
with busy():  # the next task (a pool kept across calls) starts unhit
    reraise_if_interrupted()
print("next task clean")
"""


def test_a_pool_worker_is_interrupted_in_a_task_and_ignores_sigint_between_tasks():
    # in a process of its own: a worker's handler stays for the process's life
    out = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True,
                         timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                      signal.SIG_DFL))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["idle ignored, busy interrupted and noted",
                                          "next task clean"]
