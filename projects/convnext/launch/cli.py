"""Command-line options the tools share (``--launcher``, ``--debug``, ``--cfg-options``) and their bad-input exit."""

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence

from mmengine.config import DictAction

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


STRICT_CFG_OPTIONS_FLAG = '--strict-cfg-options'
"""The flag that makes a ``--cfg-options`` key unknown to the config an error instead of a warning."""


def add_cfg_options_args(parser: argparse.ArgumentParser, example: str = '') -> None:
    """Adds ``--cfg-options`` (mmengine's ``DictAction``) and :data:`STRICT_CFG_OPTIONS_FLAG`.

    The tools pass both to :func:`convnext.launch.load_config`, which warns about
    (or, with the flag, refuses) an override whose first key component is not
    in the config: mmengine would add it as a new key and change nothing.

    Args:
        parser: The tool's parser (changed in place).
        example: An override shown in the help, e.g. ``'model.backbone.init_cfg.checkpoint=PATH'``.
            Defaults to ''.
    """
    shown = f', e.g. {example}' if example else ''
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help=f'override config settings (key.sub=value){shown}'
    )
    parser.add_argument(
        STRICT_CFG_OPTIONS_FLAG,
        action='store_true',
        help='refuse a --cfg-options key whose first part is not in the config (default: warn, add it as new)',
    )


def parse_launcher_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parses ``argv`` with a parser given :func:`add_launcher_args`; sets ``LOCAL_RANK`` unless already set."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


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
