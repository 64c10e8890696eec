"""A Ctrl-C or SIGTERM must end a run even when it lands while pyzmq frees a message.

pyzmq checks for signals inside ``Frame.__dealloc__``; an exception raised
there is printed and dropped. CI once sent SIGTERM to `physres run`, the
interrupt landed in such a free, and the run went on until it was killed.
These tests free real zmq messages in a tight loop (where nearly every
signal lands in a free) and show the interrupt is raised anyway, once, in
the main thread, with no traceback printed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback

import pytest
import zmq

from physres.bus.interrupts import Terminated, raise_lost, terminate_like_ctrl_c
from physres.bus.sockets import recv_frames


def _signal_soon(sig: signal.Signals) -> threading.Timer:
    t = threading.Timer(0.05, os.kill, (os.getpid(), sig))
    t.start()
    return t


def _free_messages_for(seconds: float) -> int:
    """Make and drop zero-copy messages, as a busy receive loop does; return how many."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            parts = [zmq.Frame(b"x" * 256)]
            del parts  # the Frame is freed here, in the main thread
            n += 1
    return n


def _receive_one() -> list[object]:
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    addr = f"inproc://interrupts-{os.getpid()}-{time.monotonic_ns()}"
    b.bind(addr)
    a.connect(addr)
    try:
        a.send_multipart([b"topic", b"header", b"x" * 256])
        return recv_frames(b)
    finally:
        a.close(0)
        b.close(0)


@pytest.mark.parametrize(
    ("sig", "kind"), [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)]
)
def test_a_signal_landing_in_a_message_free_is_raised_at_the_next_receive(
    sig: signal.Signals, kind: type[BaseException], capfd: pytest.CaptureFixture[str]
) -> None:
    timer = _signal_soon(sig)
    with pytest.raises(kind) as caught, terminate_like_ctrl_c():
        _free_messages_for(0.5)  # the signal lands in a free and is dropped ...
        _receive_one()  # ... and raised here
        pytest.fail("the interrupt was lost")  # pragma: no cover
    timer.join()
    assert caught.type is kind
    # it came back through the bus's receive, i.e. it had been dropped in a free first
    assert traceback.extract_tb(caught.tb)[-1].name == "raise_lost"
    assert "Traceback" not in capfd.readouterr().err, "the dropped interrupt printed nothing"


def test_a_signal_dropped_after_the_last_receive_is_raised_when_the_block_ends(
    capfd: pytest.CaptureFixture[str],
) -> None:
    timer = _signal_soon(signal.SIGTERM)
    with pytest.raises(Terminated), terminate_like_ctrl_c():
        n = _free_messages_for(0.5)  # never receives: nothing raises mid-loop
        assert n > 0
    timer.join()
    assert "Traceback" not in capfd.readouterr().err


def test_outside_the_block_nothing_is_kept_and_the_hooks_are_restored() -> None:
    before = (sys.excepthook, sys.unraisablehook, signal.getsignal(signal.SIGTERM))
    with terminate_like_ctrl_c():
        assert sys.excepthook is not before[0]
    assert (sys.excepthook, sys.unraisablehook, signal.getsignal(signal.SIGTERM)) == before
    raise_lost()  # nothing kept: a no-op


def test_only_the_main_thread_raises_a_kept_interrupt() -> None:
    from physres.bus import interrupts

    seen: list[BaseException] = []

    def worker() -> None:
        try:
            raise_lost()
        except BaseException as e:  # pragma: no cover - the failure being tested for
            seen.append(e)

    with pytest.raises(Terminated), terminate_like_ctrl_c():
        interrupts.pending[:] = [Terminated("SIGTERM")]
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not seen, "a node thread must never get the run's interrupt"
        raise_lost()


def test_every_cli_command_keeps_a_dropped_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """`physres ls`, `robot eval`, ...: not only `run`. The CLI says "interrupted", exit 130."""
    from physres import cli

    def busy_command(args: object) -> int:
        timer = _signal_soon(signal.SIGINT)
        _free_messages_for(0.5)  # dropped here; no receive follows
        timer.join()
        return 0

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["ls"])
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    monkeypatch.setattr(args, "func", busy_command)
    assert cli.main(["ls"]) == 130


def test_a_nested_block_hands_a_kept_interrupt_to_the_outer_one() -> None:
    from physres.bus import interrupts
    from physres.bus.interrupts import keep_interrupts

    with pytest.raises(Terminated), keep_interrupts():
        with contextlib.suppress(Terminated), keep_interrupts():
            interrupts.pending[:] = [Terminated("SIGTERM")]
        # the inner block raised it at its end and it was suppressed: nothing left over
        assert not interrupts.pending
        interrupts.pending[:] = [Terminated("SIGTERM")]
    assert not interrupts.pending
