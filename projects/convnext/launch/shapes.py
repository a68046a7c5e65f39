"""Input shapes of the analysis and deployment tools: ``--shape H W`` (height first, as mmseg's and mmpretrain's
``get_flops.py``), and the input a config's test pipeline produces when it is not given."""

import argparse
from collections.abc import Sequence

from mmengine.config import Config

from ..exceptions import ConfigError

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
