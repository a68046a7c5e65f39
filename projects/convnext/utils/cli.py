"""Command-line pieces shared by the tools: image shapes and bad-input exits."""

import functools
import sys
from collections.abc import Callable, Sequence

from .env import ConfigError

BAD_INPUT_EXIT = 2
"""Exit code of a tool given bad input (argparse's own)."""


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
    """Decorates a tool's ``main``: a :class:`ConfigError` becomes one ``error: ...`` line on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapped(*args: object, **kwargs: object) -> int:
        try:
            return main(*args, **kwargs)
        except ConfigError as error:
            print(f'error: {error}', file=sys.stderr)
            return BAD_INPUT_EXIT

    return wrapped
