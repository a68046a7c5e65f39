"""Command-line pieces shared by the tools: launcher options, image shapes and bad-input exits."""

import argparse
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


def add_debug_arg(parser: argparse.ArgumentParser) -> None:
    """Adds ``--debug``: full tracebacks instead of the one ``error:`` line (:func:`exit_on_config_error`)."""
    parser.add_argument(
        DEBUG_FLAG, action='store_true', help=f'full tracebacks instead of one error line (or {DEBUG_ENV}=1)'
    )


def add_launcher_args(parser: argparse.ArgumentParser, launchers: Sequence[str]) -> None:
    """Adds what ``tools/train.py`` and ``tools/test.py`` share: ``--launcher``, ``--debug`` and ``--local-rank``.

    ``--local-rank`` is passed by ``torch.distributed.launch``; :func:`parse_launcher_args`
    exports it as ``LOCAL_RANK`` for mmengine's distributed set-up.

    Args:
        parser: The tool's parser (changed in place).
        launchers: The accepted ``--launcher`` values; the first is the default.
    """
    parser.add_argument('--launcher', choices=launchers, default=launchers[0], help='job launcher')
    add_debug_arg(parser)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launcher_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parses ``argv`` with a parser given :func:`add_launcher_args`; sets ``LOCAL_RANK`` unless already set."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


DETECTION_SHAPE = (800, 1280)
"""The papers' detection input as ``(H, W)`` (1280 x 800 in their W x H): the analysis tools' default ``--shape``."""


def add_shape_arg(parser: argparse.ArgumentParser, default: Sequence[int] | None, default_help: str = '') -> None:
    """Adds ``--shape H W`` (or one side: square), read by :func:`parse_shape`.

    Args:
        parser: The tool's parser.
        default: ``[H, W]`` when the option is absent, or None.
        default_help: What the default is, when it is not a fixed shape. Defaults to ''.
    """
    shown = f'default: {default_help}' if default_help else f'default: {" ".join(map(str, default))}'
    parser.add_argument(
        '--shape', type=int, nargs='+', default=default, help=f'input height and width (one value: square); {shown}'
    )


def parse_shape(values: Sequence[int]) -> tuple[int, int]:
    """The ``(height, width)`` of a ``--shape H W`` or ``--shape SIDE`` (square) option.

    Height first in every tool, as the input ``(N, 3, H, W)`` and as mmseg's and
    mmpretrain's ``tools/analysis_tools/get_flops.py`` read their ``--shape``.

    Raises:
        ConfigError: Not one or two values, or a value below 1.
    """
    if len(values) not in (1, 2):
        raise ConfigError(f'--shape takes H W or one side, got {list(values)}')
    height, width = values[0], values[-1]
    if height < 1 or width < 1:
        raise ConfigError(f'--shape must be positive, got height {height} and width {width}')
    return height, width


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
