"""Trained models from a config and a checkpoint, through the hosts' own ``init`` functions.

The config's ``default_scope`` picks the host (mmdet, mmseg or mmpretrain);
its ``init_detector`` / ``init_model`` builds the model and loads the
checkpoint. Those loaders only warn about keys that do not fit, so
:func:`check_checkpoint_fits` compares the checkpoint with the built model
first and refuses a mismatch in one line.
"""

from collections.abc import Callable, Mapping

import torch
from mmengine.config import Config
from torch import nn

from ..exceptions import ConfigError
from ..serialization import allow_mmengine_checkpoints, read_checkpoint, strip_wrapper_prefix

TASKS = {'mmpretrain': 'classification', 'mmseg': 'segmentation', 'mmdet': 'detection'}
"""The task of each host's ``default_scope``."""

SHOWN_KEYS = 3
"""Keys named in a mismatch message (the count gives the rest)."""


def task_of(cfg: Config, path: str = 'the config') -> str:
    """``'classification'``, ``'segmentation'`` or ``'detection'`` from the config's ``default_scope``.

    Raises:
        ConfigError: The scope is missing or not one of the hosts'.
    """
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ConfigError(f'{path} has default_scope {scope!r}; expected one of {", ".join(TASKS)}')
    return TASKS[scope]


def init_model(cfg: Config, checkpoint: str, device: str = 'cpu') -> nn.Module:
    """The host's model of ``cfg`` in eval mode, with the weights of ``checkpoint`` checked to fit.

    Args:
        cfg: The loaded config; not modified.
        checkpoint: Path of an mmengine checkpoint (``state_dict`` and ``meta``).
        device: Torch device. Defaults to ``'cpu'``.

    Raises:
        ConfigError: Unknown host, a checkpoint that is missing or unreadable, or weights that do not fit the model.
    """
    task = task_of(cfg)
    weights = load_state_dict(checkpoint)  # before the host's init, whose loader only warns
    allow_mmengine_checkpoints()
    model = _host_init(task)(cfg.copy(), checkpoint, device=device)  # sets the default scope, as the hosts do
    _check_fits(model, checkpoint, weights)
    return revert_sync_batchnorm(model).eval()


def _host_init(task: str) -> Callable[..., nn.Module]:
    """The host's ``init(config, checkpoint, device=...)`` for ``task``."""
    if task == 'detection':
        from mmdet.apis import init_detector

        return init_detector
    if task == 'segmentation':
        from mmseg.apis import init_model as init_segmentor

        return init_segmentor
    from mmpretrain.apis import init_model as init_classifier

    return init_classifier


def revert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """``model`` with SyncBN layers as plain BN (SyncBN needs a process group; eval is the same)."""
    from mmengine.model import revert_sync_batchnorm as revert

    return revert(model)


def load_state_dict(checkpoint: str) -> dict[str, torch.Tensor]:
    """The tensors of an mmengine checkpoint (or a bare state dict), without a wrapper's ``module.`` prefix.

    Raises:
        ConfigError: The file is missing or unreadable (:func:`~convnext.serialization.read_checkpoint`), or
            holds no dict of weights.
    """
    loaded = read_checkpoint(checkpoint)
    state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded
    if not isinstance(state, dict):
        raise ConfigError(f'{checkpoint} holds a {type(state).__name__}, not a state dict')
    return strip_wrapper_prefix(state)


def check_checkpoint_fits(model: nn.Module, checkpoint: str) -> None:
    """Checks that ``checkpoint`` has exactly the parameters and buffers of ``model``, in the same shapes.

    Raises:
        ConfigError: Missing, unexpected or differently shaped keys, with counts and examples.
    """
    _check_fits(model, checkpoint, load_state_dict(checkpoint))


def _check_fits(model: nn.Module, checkpoint: str, state: Mapping[str, torch.Tensor]) -> None:
    """:func:`check_checkpoint_fits` on the weights ``state`` already read from ``checkpoint``."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [
        f'{key} {tuple(state[key].shape)} vs {tuple(value.shape)}'
        for key, value in expected.items()
        if key in state and tuple(state[key].shape) != tuple(value.shape)
    ]
    problems = [
        _listed(f'{len(missing)} missing', missing),
        _listed(f'{len(unexpected)} unexpected', unexpected),
        _listed(f'{len(reshaped)} with other shapes (checkpoint vs model)', reshaped),
    ]
    problems = [problem for problem in problems if problem]
    if problems:
        raise ConfigError(
            f"checkpoint {checkpoint} does not fit the config's model: {'; '.join(problems)} "
            '(wrong config for this checkpoint, or a backbone-only checkpoint: use it as init_cfg and train)'
        )


def _listed(what: str, keys: list[str]) -> str:
    """``'<what> keys (a, b, c, ...)'`` or an empty string when ``keys`` is empty."""
    if not keys:
        return ''
    more = ', ...' if len(keys) > SHOWN_KEYS else ''
    return f'{what} keys ({", ".join(keys[:SHOWN_KEYS])}{more})'


def model_stride(model: nn.Module) -> int:
    """The total downsampling of the backbone: input sides must be multiples of it.

    ConvNeXt's stem and downsampling layers (strided convolutions in
    ``backbone.downsample_layers``) give 4 x 2 x 2 x 2 = 32.

    Raises:
        ConfigError: The model has no ConvNeXt-style backbone.
    """
    layers = getattr(getattr(model, 'backbone', None), 'downsample_layers', None)
    if layers is None:
        raise ConfigError(f'{type(model).__name__} has no backbone.downsample_layers (not a ConvNeXt model)')
    stride = 1
    for module in layers.modules():
        if isinstance(module, nn.Conv2d):
            stride *= module.stride[0]
    return stride
