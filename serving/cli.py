"""What the stack's command lines share: bad input is reported in one line on stderr with exit code 2, never
argparse's usage dump or a traceback."""

import argparse
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

USAGE_ERROR = 2
FAILURE = 1


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise UsageError (sub-parsers too: pass `parser_class=Parser`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class Terminated(BaseException):
    """A stop signal arrived. A BaseException, so that the `with` blocks it unwinds stop what they started (a
    TorchServe, a gateway) on the way out, as KeyboardInterrupt does for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum  # the shell's convention for a process ended by a signal


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def signals_terminate(*signums: int) -> Iterator[None]:
    """Within the block, each of `signums` raises Terminated in the main thread; the old handlers come back after."""
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
