"""The config switch to preemption-safe training: what ``tools/train.py`` applies to every config.

:func:`make_preemptible` selects :class:`~.runner.PreemptibleRunner`, the
preemptible train loops, :class:`~.hook.PreemptionHook` (set by the config's
``preemption`` dict: ``--cfg-options preemption.interval=2000``) and
:class:`~convnext.engine.hooks.SafeCheckpointHook`.
"""

import copy
import inspect

from mmengine.config import Config
from mmengine.hooks import CheckpointHook

from ...exceptions import ConfigError
from ..hooks.checkpoint import SafeCheckpointHook
from .hook import PreemptionHook
from .loops import PreemptibleEpochBasedTrainLoop, PreemptibleIterBasedTrainLoop
from .runner import PreemptibleRunner

PREEMPTION_KEY = 'preemption'
"""Config key of the preemption settings: ``enable`` plus :class:`PreemptionHook`'s arguments."""

PREEMPTIBLE_LOOPS = {
    'EpochBasedTrainLoop': f'convnext.{PreemptibleEpochBasedTrainLoop.__name__}',
    'IterBasedTrainLoop': f'convnext.{PreemptibleIterBasedTrainLoop.__name__}',
}
"""mmengine's train loops and their preemptible versions."""

MMENGINE_CHECKPOINT_HOOK = dict(type='CheckpointHook', interval=1)
"""The checkpoint hook mmengine's Runner adds when ``default_hooks`` names none (``Runner.register_default_hooks``)."""


def make_preemptible(cfg: Config) -> Config:
    """A copy of a training config with preemption-safe training switched on (unless ``preemption.enable=False``).

    Adds :class:`PreemptionHook` (arguments from ``cfg.preemption``) to
    ``custom_hooks`` unless one is there, replaces mmengine's epoch- and
    iteration-based train loops by the preemptible ones and its
    ``CheckpointHook`` by :class:`SafeCheckpointHook` (old checkpoints are
    removed only after the new one is saved), and selects
    :class:`PreemptibleRunner` unless the config names a ``runner_type``.

    Raises:
        ConfigError: ``cfg.preemption`` has a key the hook does not take.
    """
    settings = dict(cfg.get(PREEMPTION_KEY) or {})
    if not settings.pop('enable', True):
        return cfg
    allowed = list(inspect.signature(PreemptionHook).parameters)
    unknown = [name for name in settings if name not in allowed]
    if unknown:
        raise ConfigError(f'{PREEMPTION_KEY}.{unknown[0]} is not a setting; expected enable or one of {allowed}')
    cfg = copy.deepcopy(cfg)
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(str(hook.get('type', '')).split('.')[-1] == PreemptionHook.__name__ for hook in hooks):
        cfg.custom_hooks = [*hooks, dict(type=f'convnext.{PreemptionHook.__name__}', **settings)]
    if cfg.get('train_cfg'):
        cfg.train_cfg = _preemptible_loop(cfg.train_cfg)
    cfg.default_hooks = _safe_checkpoint_hook(cfg.get('default_hooks'))
    if 'runner_type' not in cfg:
        cfg.runner_type = f'convnext.{PreemptibleRunner.__name__}'
    return cfg


def _safe_checkpoint_hook(default_hooks: dict | None) -> dict:
    """``default_hooks`` with mmengine's ``CheckpointHook`` (named, or mmengine's default) replaced by
    :class:`SafeCheckpointHook`; another checkpoint hook, a built one, or ``checkpoint=None`` is kept."""
    default_hooks = dict(default_hooks or {})
    checkpoint = default_hooks.get('checkpoint', MMENGINE_CHECKPOINT_HOOK)
    if not isinstance(checkpoint, dict):  # None (no checkpoints) or a built hook
        return default_hooks
    hook_type = checkpoint.get('type', '')
    if getattr(hook_type, '__name__', str(hook_type)).split('.')[-1] != CheckpointHook.__name__:
        return default_hooks
    default_hooks['checkpoint'] = dict(checkpoint, type=f'convnext.{SafeCheckpointHook.__name__}')
    return default_hooks


def _preemptible_loop(train_cfg: dict) -> dict:
    """``train_cfg`` with mmengine's loop type replaced by its preemptible version (others unchanged)."""
    train_cfg = dict(train_cfg)
    loop_type = train_cfg.get('type')
    if loop_type is None and 'by_epoch' in train_cfg:
        loop_type = 'EpochBasedTrainLoop' if train_cfg.pop('by_epoch') else 'IterBasedTrainLoop'
    name = str(loop_type).split('.')[-1]  # any scope: mmdet, mmseg and mmpretrain use mmengine's loops
    if name in PREEMPTIBLE_LOOPS:
        train_cfg['type'] = PREEMPTIBLE_LOOPS[name]
    return train_cfg
