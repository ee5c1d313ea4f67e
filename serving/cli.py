"""What the stack's command lines share: bad input is reported in one line on stderr with exit code 2, never
argparse's usage dump or a traceback."""

import argparse
from typing import NoReturn

USAGE_ERROR = 2
FAILURE = 1


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise UsageError (sub-parsers too: pass `parser_class=Parser`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)
