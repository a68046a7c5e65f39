"""Command-line pieces shared by the tools: image shapes and bad-input exits."""

import functools
import os
import sys
from collections.abc import Callable, Sequence

from ..exceptions import ConfigError

BAD_INPUT_EXIT = 2
"""Exit code of a tool given bad input (argparse's own)."""

DEBUG_ENV = 'CONVNEXT_DEBUG'
"""Environment variable that, set to 1, shows the full traceback instead of the one ``error:`` line."""

DEBUG_FLAG = '--debug'
"""Command-line flag of ``tools/train.py`` and ``tools/test.py`` with the same effect."""


def parse_shape(values: Sequence[int]) -> tuple[int, int]:
    """The ``(width, height)`` of a ``--shape W H`` or ``--shape SIDE`` (square) option.

    Raises:
        ConfigError: Not one or two values, or a value below 1.
    """
    if len(values) not in (1, 2):
        raise ConfigError(f'--shape takes W H or one side, got {list(values)}')
    width, height = values[0], values[-1]
    if width < 1 or height < 1:
        raise ConfigError(f'--shape must be positive, got width {width} and height {height}')
    return width, height


def exit_on_config_error(main: Callable[..., int]) -> Callable[..., int]:
    """Decorates a tool's ``main(argv)``: a :class:`ConfigError` becomes one ``error: ...`` line and exit code 2.

    With ``--debug`` in the arguments or ``CONVNEXT_DEBUG=1`` the error propagates
    instead, with its full traceback (and the one it was raised from).
    """

    @functools.wraps(main)
    def wrapped(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except ConfigError as error:
            if debug_requested(argv):
                raise
            print(f'error: {error}', file=sys.stderr)
            return BAD_INPUT_EXIT

    return wrapped


def debug_requested(argv: list[str] | None) -> bool:
    """Whether ``argv`` (``sys.argv[1:]`` when None) has ``--debug`` or ``CONVNEXT_DEBUG`` is set to 1."""
    args = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in args or os.environ.get(DEBUG_ENV, '0') == '1'
