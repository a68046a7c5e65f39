"""Layer-wise learning-rate decay for backbones that answer ``get_layer_depth``.

One constructor for mmdet, mmseg and mmpretrain configs::

    optim_wrapper = dict(
        type='OptimWrapper',  # or 'AmpOptimWrapper'
        constructor='convnext.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=None),
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    )

The backbone gives every parameter a layer id (``layer_wise``: the official
detection rule; ``stage_wise``: the official segmentation rule; ``single`` and
``group``: the ConvNeXt V2 fine-tuning rules); the learning rate is
``lr * decay_rate ** (num_layers + 1 - layer_id)``, so everything outside the
backbone (id ``num_layers + 1``) keeps ``lr``. Parameters are merged into the
official groups ``layer_{id}_{decay|no_decay}``.
"""

import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIMIZERS
from torch import nn
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...registry import OPTIM_WRAPPER_CONSTRUCTORS

DEFAULT_DECAY_TYPE = 'layer_wise'
"""The official detection rule."""

DEFAULT_BACKBONE_PREFIX = 'backbone.'
"""Where mmdet detectors, mmseg segmentors and mmpretrain classifiers keep the backbone."""

LAYER_DECAY_KEYS = ('decay_rate', 'decay_type', 'num_layers', 'backbone_prefix')
"""``paramwise_cfg`` keys of the layer decay itself."""

MMENGINE_KEYS = (
    'custom_keys',
    'bias_lr_mult',
    'bias_decay_mult',
    'norm_decay_mult',
    'dwconv_decay_mult',
    'flat_decay_mult',
)
"""``paramwise_cfg`` keys of mmengine's ``DefaultOptimWrapperConstructor`` honoured on top."""

NO_DECAY_SUFFIXES = ('.bias', '.gamma', '.beta')
"""Biases, layer-scale ``gamma`` and GRN ``gamma``/``beta`` (4-D) get no weight decay
(ConvNeXt-V2 ``optim_factory.py`` ``get_parameter_groups``)."""

TOKEN_NAMES = ('cls_token', 'mask_token', 'pos_embed')
"""Token parameters, which get no weight decay."""

NORM_TYPES = (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm)
"""Modules whose parameters ``norm_decay_mult`` applies to (mmengine's list)."""

FLAT_NDIM = 1
"""Parameters with at most this many dimensions get no weight decay."""

HEAD_ROWS = ('group', 'id', 'lr_scale', 'weight_decay', 'tensors', 'elements')
"""Columns of the logged group table."""


def is_no_decay(name: str, ndim: int) -> bool:
    """Whether a parameter gets no weight decay under the official ConvNeXt rule.

    1-D (and 0-D) tensors, biases, ``gamma``/``beta`` (layer scale and GRN,
    whatever their shape) and token parameters.

    Args:
        name: Full parameter name, e.g. ``backbone.stages.0.0.grn.gamma``.
        ndim: Number of dimensions of the parameter.
    """
    return ndim <= FLAT_NDIM or name.endswith(NO_DECAY_SUFFIXES) or _leaf(name) in TOKEN_NAMES


def _leaf(name: str) -> str:
    """The attribute name of a parameter, e.g. 'bias' for 'neck.conv.bias'."""
    return name.rsplit('.', 1)[-1]


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer wrapper constructor with layer-wise learning-rate decay.

    The model (unwrapped from DDP's ``.module``) must hold a backbone at
    ``backbone_prefix`` with ``get_layer_depth(param_name, prefix,
    decay_type, num_layers) -> (layer_id, num_layers + 2)``, as
    :class:`convnext.ConvNeXt` has; a backbone with mmpretrain's two-argument
    ``get_layer_depth(param_name, prefix)`` works for the default
    ``layer_wise`` rule with its own ``num_layers``. Class names are never
    checked.

    Every trainable parameter gets ``lr = lr * decay_rate ** (num_layers + 1 -
    layer_id)`` and, unless an mmengine option below decides otherwise,
    ``weight_decay`` 0 when it is 1-D, a bias, a ``gamma``/``beta`` or a token,
    else the optimizer's. Parameters with equal id, lr and weight decay share
    one group ``layer_{id}_{decay|no_decay}`` with keys ``params``,
    ``param_names``, ``lr``, ``lr_scale`` (``lr / base lr``),
    ``weight_decay``, ``group_name`` and ``layer_id``, in order of first
    appearance. Frozen parameters are skipped. The groups are logged once as a
    table.

    mmengine options honoured on top (same precedence as mmengine):
    ``custom_keys`` (longest key that is a substring of the name wins; its
    ``lr_mult`` multiplies the decayed lr, its ``decay_mult`` sets
    ``weight_decay = base * decay_mult``, a key without ``decay_mult`` keeps
    the official rule; such parameters get their own group named after the
    key), then ``norm_decay_mult``, ``bias_decay_mult``, ``dwconv_decay_mult``,
    ``flat_decay_mult`` and ``bias_lr_mult``. DCN offset rules are not
    supported.

    Args:
        optim_wrapper_cfg: mmengine optimizer wrapper config, with
            ``optimizer`` (``lr`` required).
        paramwise_cfg: ``decay_rate`` (required, > 0); ``decay_type``, one of
            the backbone's rules (ConvNeXt: 'layer_wise', 'stage_wise',
            'single', 'group'), defaults to 'layer_wise'; ``num_layers``, None
            for the backbone's default (ConvNeXt: 6 when the third stage has at
            most 9 blocks, else 12; ``sum(depths)`` for 'single'), defaults to
            None; ``backbone_prefix``, defaults to 'backbone.' ('' when the
            model is the backbone); and the mmengine options above. Defaults
            to None, which raises since ``decay_rate`` is required.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        cfg = self.paramwise_cfg
        unknown = sorted(set(cfg) - set(LAYER_DECAY_KEYS) - set(MMENGINE_KEYS))
        if unknown:
            raise ValueError(
                f'Unknown paramwise_cfg keys {unknown} for LayerDecayOptimWrapperConstructor; '
                f'expected some of {LAYER_DECAY_KEYS + MMENGINE_KEYS}'
            )
        self.decay_rate = self._parse_decay_rate(cfg.get('decay_rate'))
        self.decay_type = cfg.get('decay_type', DEFAULT_DECAY_TYPE)
        if not isinstance(self.decay_type, str):
            raise TypeError(f'paramwise_cfg.decay_type must be a str, got {self.decay_type!r}')
        self.num_layers = self._parse_num_layers(cfg.get('num_layers'))
        self.backbone_prefix = cfg.get('backbone_prefix', DEFAULT_BACKBONE_PREFIX)
        if not isinstance(self.backbone_prefix, str) or (
            self.backbone_prefix and not self.backbone_prefix.endswith('.')
        ):
            raise ValueError(f"paramwise_cfg.backbone_prefix must be '' or end with '.', got {self.backbone_prefix!r}")
        if not isinstance(self.base_lr, (int, float)):
            raise ValueError(f'optim_wrapper.optimizer.lr must be a number for layer decay, got {self.base_lr!r}')

    @staticmethod
    def _parse_decay_rate(decay_rate: Any) -> float:
        if decay_rate is None:
            raise ValueError('paramwise_cfg.decay_rate is required for LayerDecayOptimWrapperConstructor, e.g. 0.7')
        if isinstance(decay_rate, bool) or not isinstance(decay_rate, (int, float)) or decay_rate <= 0:
            raise ValueError(f'paramwise_cfg.decay_rate must be a positive number, got {decay_rate!r}')
        return float(decay_rate)

    @staticmethod
    def _parse_num_layers(num_layers: Any) -> int | None:
        if num_layers is None:
            return None
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f'paramwise_cfg.num_layers must be None or a positive int, got {num_layers!r}')
        return num_layers

    def add_params(self, params: list[dict], module: nn.Module, prefix: str = '', **kwargs: Any) -> None:
        """Appends the layer-decay parameter groups of ``module`` to ``params``.

        Called by :meth:`DefaultOptimWrapperConstructor.__call__` on the
        unwrapped model.

        Args:
            params: Parameter groups, extended in place (mmengine's protocol).
            module: The model (already unwrapped from ``.module``).
            prefix: Must be '' (the whole model). Defaults to ''.
            **kwargs: Ignored mmengine arguments (``is_dcn_module``).
        """
        if prefix:
            raise ValueError(f'LayerDecayOptimWrapperConstructor adds a whole model, got prefix {prefix!r}')
        groups, frozen = self.build_param_groups(module)
        self._log_groups(groups, frozen)
        params.extend(groups)

    def build_param_groups(self, model: nn.Module) -> tuple[list[dict], list[str]]:
        """The parameter groups of ``model`` and the names of its frozen parameters.

        Args:
            model: The model, not wrapped in DDP.

        Returns:
            The groups, in order of first appearance, and the skipped names.
        """
        layer_depth = self._layer_depth_fn(model)
        entries, frozen = [], []
        for module_name, module in model.named_modules():
            for leaf, param in module.named_parameters(recurse=False):
                name = f'{module_name}.{leaf}' if module_name else leaf
                if not param.requires_grad:
                    frozen.append(name)
                    continue
                layer_id, max_id = layer_depth(name)
                entries.append((name, param, module, layer_id, max_id))
        num_layers = self._check_layer_ids(entries)
        groups: dict[tuple, dict] = {}
        for name, param, module, layer_id, _ in entries:
            key, settings = self._group_settings(name, param, module, layer_id, num_layers)
            if key not in groups:
                groups[key] = dict(settings, params=[], param_names=[])
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        return list(groups.values()), frozen

    def _layer_depth_fn(self, model: nn.Module) -> Callable[[str], tuple[int, int]]:
        """``name -> (layer_id, num_layers + 2)`` from the backbone's ``get_layer_depth``."""
        backbone = self._find_backbone(model)
        get_layer_depth = backbone.get_layer_depth
        accepted = inspect.signature(get_layer_depth).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        if takes_kwargs or {'decay_type', 'num_layers'} <= set(accepted):
            return partial(
                get_layer_depth, prefix=self.backbone_prefix, decay_type=self.decay_type, num_layers=self.num_layers
            )
        if self.decay_type != DEFAULT_DECAY_TYPE or self.num_layers is not None:
            raise ValueError(
                f'{type(backbone).__name__}.get_layer_depth(param_name, prefix) takes no decay_type or num_layers, '
                f'so paramwise_cfg must leave decay_type={DEFAULT_DECAY_TYPE!r} and num_layers=None; '
                f'got decay_type={self.decay_type!r}, num_layers={self.num_layers!r}'
            )
        return partial(get_layer_depth, prefix=self.backbone_prefix)

    def _find_backbone(self, model: nn.Module) -> nn.Module:
        path = self.backbone_prefix[:-1]
        need = (
            f'LayerDecayOptimWrapperConstructor needs a backbone at {path or "the model root"!r} of '
            f'{type(model).__name__} with get_layer_depth(param_name, prefix, decay_type, num_layers) '
            f"(e.g. model.backbone=dict(type='convnext.ConvNeXt'); set paramwise_cfg.backbone_prefix "
            f'if the backbone lives elsewhere)'
        )
        try:
            backbone = model.get_submodule(path) if path else model
        except AttributeError as error:
            raise TypeError(f'{need}; the model has no submodule {path!r}') from error
        if not callable(getattr(backbone, 'get_layer_depth', None)):
            raise TypeError(f'{need}; {type(backbone).__name__} has no get_layer_depth')
        return backbone

    def _check_layer_ids(self, entries: list[tuple]) -> int:
        """Returns ``num_layers``; raises when a layer id would give an lr scale above 1."""
        if not entries:
            raise ValueError('The model has no trainable parameters to optimise')
        max_ids = {max_id for *_, max_id in entries}
        if len(max_ids) != 1:
            raise ValueError(f'get_layer_depth returned inconsistent num_layers + 2 values {sorted(max_ids)}')
        num_layers = max_ids.pop() - 2
        name, *_, layer_id, _ = max(entries, key=lambda entry: entry[3])
        if layer_id > num_layers + 1:
            given = 'paramwise_cfg.num_layers' if self.num_layers is not None else "the backbone's default num_layers"
            raise ValueError(
                f'{given}={num_layers} is too small for this backbone with '
                f'decay_type={self.decay_type!r}: parameter {name!r} gets layer id {layer_id} > num_layers + 1 = '
                f'{num_layers + 1}, i.e. an lr scale of decay_rate ** {num_layers + 1 - layer_id} '
                f'(above 1). Use num_layers >= {layer_id - 1}, or None for the backbone default.'
            )
        return num_layers

    def _group_settings(
        self, name: str, param: nn.Parameter, module: nn.Module, layer_id: int, num_layers: int
    ) -> tuple[tuple, dict]:
        """The merge key and the settings (without params) of one parameter's group."""
        custom_key = self._custom_key(name)
        custom = self.paramwise_cfg.get('custom_keys', {}).get(custom_key, {})
        lr_mult = custom.get('lr_mult', 1.0) if custom_key else self._lr_mult(name, module)
        decay_mult = self._decay_mult(name, param, module, custom_key)
        layer_scale = self.decay_rate ** (num_layers + 1 - layer_id)
        decay = 'decay' if decay_mult > 0 else 'no_decay'
        group_name = f'layer_{layer_id}_{decay}'
        if custom_key:
            group_name += f'_{custom_key}'
        elif lr_mult != 1.0 or decay_mult not in (0.0, 1.0):
            group_name += f'_lr{lr_mult:g}_wd{decay_mult:g}'
        settings = dict(
            custom,
            lr=self.base_lr * layer_scale * lr_mult,
            lr_scale=layer_scale * lr_mult,
            weight_decay=self._base_weight_decay() * decay_mult,
            group_name=group_name,
            layer_id=layer_id,
        )
        return (layer_id, custom_key, lr_mult, decay_mult), settings

    def _custom_key(self, name: str) -> str | None:
        """The longest ``custom_keys`` entry in ``name`` (alphabetical among equals), as mmengine."""
        custom_keys = self.paramwise_cfg.get('custom_keys', {})
        for key in sorted(sorted(custom_keys), key=len, reverse=True):
            if key in name:
                return key
        return None

    def _lr_mult(self, name: str, module: nn.Module) -> float:
        bias_lr_mult = self.paramwise_cfg.get('bias_lr_mult')
        if bias_lr_mult is not None and _leaf(name) == 'bias' and not isinstance(module, NORM_TYPES):
            return bias_lr_mult
        return 1.0

    def _decay_mult(self, name: str, param: nn.Parameter, module: nn.Module, custom_key: str | None) -> float:
        """Weight-decay multiplier: custom key, then mmengine options, then the official rule."""
        cfg = self.paramwise_cfg
        if custom_key:
            custom = cfg['custom_keys'][custom_key]
            if 'decay_mult' in custom:
                return custom['decay_mult']
        else:
            is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
            rules = (
                ('norm_decay_mult', isinstance(module, NORM_TYPES)),
                ('bias_decay_mult', _leaf(name) == 'bias'),
                ('dwconv_decay_mult', is_dwconv),
                ('flat_decay_mult', param.ndim == FLAT_NDIM),
            )
            for key, applies in rules:
                if applies and cfg.get(key) is not None:
                    return cfg[key]
        return 0.0 if is_no_decay(name, param.ndim) else 1.0

    def _base_weight_decay(self) -> float:
        """The optimizer's ``weight_decay``, or its class default when the config omits it."""
        if self.base_wd is not None:
            return self.base_wd
        optimizer_type = self.optimizer_cfg['type']
        if isinstance(optimizer_type, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_type = registry.get(optimizer_type)
        default = inspect.signature(optimizer_type).parameters.get('weight_decay')
        if default is None or not isinstance(default.default, (int, float)):
            return 0.0
        return float(default.default)

    def _log_groups(self, groups: list[dict], frozen: list[str]) -> None:
        rows = [HEAD_ROWS] + [
            (
                group['group_name'],
                str(group['layer_id']),
                f'{group["lr_scale"]:.4g}',
                f'{group["weight_decay"]:.4g}',
                str(len(group['params'])),
                str(sum(p.numel() for p in group['params'])),
            )
            for group in groups
        ]
        widths = [max(len(row[col]) for row in rows) for col in range(len(HEAD_ROWS))]
        lines = ['  '.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        print_log(
            f'Layer decay ({self.decay_type}, decay_rate={self.decay_rate:g}): {len(groups)} groups, '
            f'{len(frozen)} frozen parameters skipped\n' + '\n'.join(lines),
            logger='current',
            level=logging.INFO,
        )
