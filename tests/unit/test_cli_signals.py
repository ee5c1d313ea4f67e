"""The stop signals of the stack's command lines: within `signals_terminate` a SIGTERM unwinds the `with` blocks
(which stop what they started) as Terminated, with the shell's exit code; outside it nothing changes."""

from __future__ import annotations

import os
import signal
import time

import pytest

from serving.cli import Terminated, signals_terminate


def test_a_signal_inside_the_block_unwinds_it_as_terminated() -> None:
    unwound: list[str] = []

    def work() -> None:
        with signals_terminate(signal.SIGTERM):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)  # the handler raises here at the latest
                pytest.fail("the signal did not interrupt the block")
            finally:
                unwound.append("cleaned up")

    with pytest.raises(Terminated) as raised:
        work()
    assert unwound == ["cleaned up"]
    assert str(raised.value) == "SIGTERM"
    assert raised.value.exit_code == 128 + signal.SIGTERM


def test_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with signals_terminate(signal.SIGTERM, signal.SIGINT):
        assert signal.getsignal(signal.SIGTERM) is not before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
