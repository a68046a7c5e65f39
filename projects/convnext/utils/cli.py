"""Command-line pieces shared by the tools: launcher and ``--cfg-options`` options, image shapes and bad-input exits."""

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence

from mmengine.config import Config, DictAction

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

    The tools pass both to :func:`convnext.utils.load_config`, which warns about
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


CLASSIFIER_SIDE = 224
"""Square input of a classifier whose test pipeline names no crop or resize size (ImageNet's)."""

BACKBONE_STRIDE = 32
"""ConvNeXt's total downsampling (stem 4, then three times 2): the analysis tools' inputs are multiples of it."""

HOST_TASKS = {'mmpretrain': 'classification', 'mmseg': 'segmentation', 'mmdet': 'detection'}
"""The task of each host's ``default_scope``."""


def default_shape(cfg: Config, task: str, stride: int, windows: bool = True) -> tuple[int, int]:
    """The input ``(H, W)`` the config's test pipeline produces, rounded up to ``stride``.

    Classifier: the centre crop, else the resize scale, else 224 x 224.
    Segmentor: ``model.test_cfg.crop_size`` for sliding windows (with
    ``windows``), else the resize scale. Detector: a square of the resize
    scale's longer side, so landscape and portrait images both fit (an
    exported graph's fixed input).

    Args:
        cfg: The loaded config (``test_dataloader.dataset.pipeline``, ``model.test_cfg``).
        task: ``'classification'``, ``'segmentation'`` or ``'detection'``.
        stride: The model's total downsampling; both sides are rounded up to a multiple.
        windows: Whether a sliding-window segmentor's input is one window (what
            its network sees) rather than the resized image. Defaults to True.

    Raises:
        ConfigError: A segmentor or detector whose test pipeline has no resize scale.
    """
    test_cfg = cfg.get('model', {}).get('test_cfg') or {}
    steps = {step['type']: step for step in _test_pipeline(cfg)}
    resize = next((step for name, step in steps.items() if 'Resize' in name and 'scale' in step), None)
    if task == 'segmentation' and windows and test_cfg.get('mode') == 'slide':
        height, width = test_cfg['crop_size']
    elif task == 'classification' and 'CenterCrop' in steps:
        height, width = _width_height(steps['CenterCrop']['crop_size'])[::-1]
    elif resize is not None:
        width, height = _width_height(resize['scale'])
        if task == 'detection' and resize.get('keep_ratio', False):
            width = height = max(width, height)
    elif task == 'classification':
        height = width = CLASSIFIER_SIDE
    else:
        raise ConfigError(f'the test pipeline of the {task} config has no Resize with a scale: pass --shape H W')
    return _round_up(height, stride), _round_up(width, stride)


ANALYSIS_SHAPE_HELP = "the config's test input (classifier crop, e.g. 224; segmentor test scale; detector 800 1280)"
"""How ``--shape`` defaults in the analysis tools (:func:`analysis_shape`), for their help."""


def analysis_shape(cfg: Config) -> tuple[int, int]:
    """The default ``--shape`` of ``tools/analysis/get_flops.py`` and ``benchmark.py``: the config's test input.

    A classifier's is :func:`default_shape` (224 x 224 on ImageNet); a
    segmentor's is its resized test image, whose sliding windows run inside the
    model (512 x 2048 on ADE20K, the size of ConvNeXt Table 4). A detector's
    test images keep their aspect ratio, so it is the papers'
    :data:`DETECTION_SHAPE`, a landscape image inside mmdet's 1333 x 800 test scale.

    Raises:
        ConfigError: The config's ``default_scope`` is not one of :data:`HOST_TASKS`,
            or :func:`default_shape` finds no size.
    """
    scope = cfg.get('default_scope')
    if scope not in HOST_TASKS:
        raise ConfigError(f'default_scope {scope!r} is not one of {", ".join(HOST_TASKS)}: pass --shape H W')
    task = HOST_TASKS[scope]
    return DETECTION_SHAPE if task == 'detection' else default_shape(cfg, task, BACKBONE_STRIDE, windows=False)


def _test_pipeline(cfg: Config) -> list[dict]:
    """The steps of ``test_dataloader.dataset.pipeline``, or none."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    return list(dataset.get('pipeline') or [])


def _width_height(size: int | Sequence[int]) -> tuple[int, int]:
    """An mmcv ``(w, h)`` size, or one side for a square."""
    return (size, size) if isinstance(size, int) else (size[0], size[1])


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


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
