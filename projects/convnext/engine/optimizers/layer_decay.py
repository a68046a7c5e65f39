"""Layer-wise learning-rate decay for ConvNeXt backbones, with the hosts' ``paramwise_cfg`` keys.

One constructor for mmdet, mmseg and mmpretrain configs::

    optim_wrapper = dict(
        type='OptimWrapper',  # or 'AmpOptimWrapper'
        constructor='convnext.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=None),
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    )

A config written for mmdet's or mmseg's ``LearningRateDecayOptimizerConstructor``
(``decay_rate``, ``decay_type``, ``num_layers``) or mmpretrain's
``LearningRateDecayOptimWrapperConstructor`` (``layer_decay_rate``,
``custom_keys``, ``*_decay_mult``) keeps its ``paramwise_cfg`` and changes only
``constructor``. The constructor is registered under this one name, not under
the hosts' names: an unprefixed ``'LearningRateDecayOptimizerConstructor'``
keeps meaning the host's, whatever the default scope, so a config's
``constructor`` alone says whose rules it gets (they differ where the hosts
depart from the official code; see ``no_decay_rule`` and ``group_by``).

Every parameter gets a layer id (``layer_wise``: the official detection rule;
``stage_wise``: the official segmentation rule; ``single`` and ``group``: the
ConvNeXt V2 fine-tuning rules); the learning rate is ``lr * decay_rate **
(num_layers + 1 - layer_id)``, so everything outside the backbone (id
``num_layers + 1``) keeps ``lr``. Parameters are merged into the official
groups ``layer_{id}_{decay|no_decay}``.
"""

import inspect
import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIMIZERS
from torch import nn
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...models.layer_ids import (
    DECAY_TYPES,
    DOWNSAMPLE,
    STAGES,
    TOKEN_NAMES,
    convnext_layer_id,
    default_num_layers,
)
from ...registry import OPTIM_WRAPPER_CONSTRUCTORS

DEFAULT_DECAY_TYPE = 'layer_wise'
"""The official detection rule."""

VIT_DECAY_TYPES = ('layer_wise',)
"""Rules for backbones named like a ViT (``layers.i``), as mmseg's constructor has for BEiT and MAE."""

DEFAULT_BACKBONE_PREFIX = 'backbone.'
"""Where mmdet detectors, mmseg segmentors and mmpretrain classifiers keep the backbone."""

NO_DECAY_RULES = ('convnext_v2', 'convnext_v1', 'none')
"""Which parameters get no weight decay when no mmengine option decides (see :func:`is_no_decay`)."""

GROUP_BY = ('layer', 'param')
"""``layer``: official merged groups; ``param``: one group per parameter, as mmpretrain."""

LAYER_DECAY_KEYS = (
    'decay_rate',
    'layer_decay_rate',
    'decay_type',
    'num_layers',
    'backbone_prefix',
    'no_decay_rule',
    'group_by',
)
"""``paramwise_cfg`` keys of the layer decay itself."""

MMENGINE_KEYS = (
    'custom_keys',
    'bias_lr_mult',
    'bias_decay_mult',
    'norm_decay_mult',
    'dwconv_decay_mult',
    'flat_decay_mult',
    'bypass_duplicate',
)
"""``paramwise_cfg`` keys of mmengine's ``DefaultOptimWrapperConstructor`` honoured on top."""

BIAS_SUFFIX = '.bias'
SCALE_SUFFIXES = ('.gamma', '.beta')
"""Layer-scale ``gamma`` and GRN ``gamma``/``beta`` (4-D in the ConvNeXt-V2 layout)."""

PATCH_EMBED = 'patch_embed'
"""A ViT's patch embedding: layer id 0 (mmseg ``get_layer_id_for_vit``)."""

VIT_LAYERS = 'layers'
"""First component of ViT names (``layers.i``)."""

NORM_TYPES = (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm)
"""Modules whose parameters ``norm_decay_mult`` applies to (mmengine's list)."""

FLAT_NDIM = 1
"""Parameters with at most this many dimensions get no weight decay."""

HEAD_ROWS = ('group', 'id', 'lr_scale', 'weight_decay', 'tensors', 'elements')
"""Columns of the logged group table."""

NAMES_IN_ERROR = 3
"""Parameter names quoted when a backbone cannot be grouped."""

LayerDepthFn = Callable[[str], tuple[int, int]]
"""``full parameter name -> (layer_id, num_layers + 2)``."""


class UngroupableBackboneError(TypeError, NotImplementedError):
    """The model has no backbone that layer decay can group.

    A ``NotImplementedError`` where mmdet's, mmseg's and mmpretrain's
    constructors raise one, and a ``TypeError`` (the backbone is of the wrong
    kind).
    """


def is_no_decay(name: str, ndim: int, rule: str = 'convnext_v2') -> bool:
    """Whether a parameter gets no weight decay under a rule of :data:`NO_DECAY_RULES`.

    ``convnext_v2`` (ConvNeXt-V2 ``optim_factory.py`` ``get_parameter_groups``):
    1-D (and 0-D) tensors, biases, ``gamma``/``beta`` (layer scale and GRN,
    whatever their shape) and token parameters. ``convnext_v1`` (ConvNeXt
    ``optim_factory.py`` and the official detection and segmentation
    ``layer_decay_optimizer_constructor.py``, copied by mmdet's and mmseg's
    ``LearningRateDecayOptimizerConstructor``): 1-D tensors and biases, so the
    4-D GRN ``gamma``/``beta`` are decayed. ``none`` (mmpretrain's
    ``LearningRateDecayOptimWrapperConstructor``): every parameter.

    Args:
        name: Full parameter name, e.g. ``backbone.stages.0.0.grn.gamma``.
        ndim: Number of dimensions of the parameter.
        rule: One of :data:`NO_DECAY_RULES`. Defaults to 'convnext_v2'.
    """
    if rule == 'none':
        return False
    flat_or_bias = ndim <= FLAT_NDIM or name.endswith(BIAS_SUFFIX)
    if rule == 'convnext_v1':
        return flat_or_bias
    return flat_or_bias or name.endswith(SCALE_SUFFIXES) or _leaf(name) in TOKEN_NAMES


def _leaf(name: str) -> str:
    """The attribute name of a parameter, e.g. 'bias' for 'neck.conv.bias'."""
    return name.rsplit('.', 1)[-1]


def convnext_depths(names: Iterable[str]) -> tuple[tuple[int, ...] | None, str]:
    """Blocks per stage of a backbone named like ConvNeXt, read from its parameter names.

    The names must include ``downsample_layers.<i>.…`` and ``stages.<i>.<j>.…``
    (``i``, ``j`` integers), as the official ConvNeXt, ours and
    ``mmpretrain.ConvNeXt`` have; other names (``norm{i}``, tokens) may occur.

    Args:
        names: Parameter names relative to the backbone, e.g. ``stages.2.4.pwconv1.weight``.

    Returns:
        ``depths`` (stage ``i`` has ``max j + 1`` blocks) and '', or None and
        why the names do not follow the naming.
    """
    blocks: dict[int, int] = {}
    kinds = set()
    for name in names:
        parts = name.split('.')
        if parts[0] not in (DOWNSAMPLE, STAGES):
            continue
        indices = parts[1:3] if parts[0] == STAGES else parts[1:2]
        if len(parts) <= len(indices) + 1 or not all(index.isdigit() for index in indices):
            pattern = 'stages.<i>.<j>' if parts[0] == STAGES else 'downsample_layers.<i>'
            return None, f'its parameter {name!r} is not named like ConvNeXt ({pattern}.…)'
        kinds.add(parts[0])
        stage = int(parts[1])
        block = int(parts[2]) + 1 if parts[0] == STAGES else 0
        blocks[stage] = max(blocks.get(stage, 0), block)
    if kinds != {DOWNSAMPLE, STAGES}:
        return None, "its parameters are not named like ConvNeXt ('downsample_layers.<i>.…' and 'stages.<i>.<j>.…')"
    return tuple(blocks.get(stage, 0) for stage in range(max(blocks) + 1)), ''


def vit_num_layers(names: Iterable[str]) -> int:
    """Number of ``layers.<i>`` blocks of a backbone named like a ViT (0 if none)."""
    indices = [_vit_layer(name) for name in names]
    return max((index for index in indices if index is not None), default=-1) + 1


def _vit_layer(name: str) -> int | None:
    """``i`` of a name ``layers.<i>.…``, else None."""
    parts = name.split('.')
    if len(parts) > 2 and parts[0] == VIT_LAYERS and parts[1].isdigit():
        return int(parts[1])
    return None


def vit_layer_id(name: str, num_layers: int) -> int:
    """Layer id of a backbone parameter named like a ViT.

    mmseg ``get_layer_id_for_vit`` (BEiT, MAE) and mmpretrain
    ``VisionTransformer.get_layer_depth``: tokens and ``patch_embed`` 0,
    ``layers.<i>`` ``i + 1``, anything else ``num_layers + 1``.

    Args:
        name: Parameter name relative to the backbone, e.g. ``layers.3.ffn.weight``.
        num_layers: Number of layer ids.
    """
    first = name.split('.')[0]
    if first in TOKEN_NAMES or first == PATCH_EMBED:
        return 0
    layer = _vit_layer(name)
    return num_layers + 1 if layer is None else layer + 1


def _by_name(rule: Callable[[str], int], prefix: str, num_layers: int, name: str) -> tuple[int, int]:
    """``(layer_id, num_layers + 2)`` from a rule on names relative to the backbone."""
    if not name.startswith(prefix):
        return num_layers + 1, num_layers + 2
    return rule(name[len(prefix) :]), num_layers + 2


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer wrapper constructor with layer-wise learning-rate decay.

    The model (unwrapped from DDP's ``.module``) holds a backbone at
    ``backbone_prefix``. Its layer ids come from, in this order (class names
    are never checked):

    1. its ``get_layer_depth(param_name, prefix, decay_type, num_layers)``, as
       :class:`convnext.ConvNeXt` has;
    2. its parameter names, when they follow the ConvNeXt naming
       (``downsample_layers.<i>``, ``stages.<i>.<j>``, e.g.
       ``mmpretrain.ConvNeXt``): the official rules of
       :func:`convnext_layer_id`, with depths read from the names;
    3. mmpretrain's ``get_layer_depth(param_name, prefix)`` (e.g.
       ``mmpretrain.VisionTransformer``), which has its own rule and
       ``num_layers``, so ``decay_type`` must stay 'layer_wise' and
       ``num_layers`` None;
    4. names following the ViT naming (``layers.<i>``, ``patch_embed``, as
       mmseg's BEiT and MAE): :func:`vit_layer_id`, ``layer_wise`` only.

    Otherwise :class:`UngroupableBackboneError` names what is missing.

    Every trainable parameter gets ``lr = lr * decay_rate ** (num_layers + 1 -
    layer_id)`` and, unless an mmengine option below decides otherwise,
    ``weight_decay`` 0 when :func:`is_no_decay` says so under
    ``no_decay_rule``, else the optimizer's. With ``group_by='layer'``,
    parameters with equal id, lr and weight decay share one group
    ``layer_{id}_{decay|no_decay}`` with keys ``params``, ``param_names``,
    ``lr``, ``lr_scale`` (``lr / base lr``), ``weight_decay``, ``group_name``
    and ``layer_id``, in order of first appearance (the official and
    mmdet/mmseg layout); with ``group_by='param'`` every parameter has its own
    group with ``param_name`` instead of ``param_names`` (mmpretrain's
    layout). Frozen parameters are skipped. The groups are logged once as a
    table.

    mmengine options honoured on top (same precedence as mmengine):
    ``custom_keys`` (longest key that is a substring of the name wins; its
    ``lr_mult`` multiplies the decayed lr, which mmpretrain ignores; its
    ``decay_mult`` sets ``weight_decay = base * decay_mult``, a key without
    ``decay_mult`` keeps the ``no_decay_rule``; such parameters get their own
    group named after the key), then ``norm_decay_mult``,
    ``bias_decay_mult``, ``dwconv_decay_mult``, ``flat_decay_mult`` and
    ``bias_lr_mult``; ``bypass_duplicate`` keeps a parameter shared by two
    modules in its first group only. DCN offset rules are not supported.

    Args:
        optim_wrapper_cfg: mmengine optimizer wrapper config, with
            ``optimizer`` (``lr`` required).
        paramwise_cfg: ``decay_rate`` (required, > 0; mmpretrain's spelling
            ``layer_decay_rate`` is the same key); ``decay_type``, one of
            :data:`DECAY_TYPES` (or the backbone's own rules), defaults to
            'layer_wise'; ``num_layers``, None for the official value
            (ConvNeXt: 6 when the third stage has at most 9 blocks, else 12;
            ``sum(depths)`` for 'single'; ViT: the number of layers), defaults
            to None; ``backbone_prefix``, defaults to 'backbone.' ('' when the
            model is the backbone); ``no_decay_rule``, one of
            :data:`NO_DECAY_RULES`, defaults to the official 'convnext_v2'
            ('convnext_v1' reproduces mmdet and mmseg, which decay the GRN
            ``gamma``/``beta``; 'none' reproduces mmpretrain, which decays
            every parameter no ``*_decay_mult`` or ``custom_keys`` exempts);
            ``group_by``, one of :data:`GROUP_BY`, defaults to 'layer'; and
            the mmengine options above. Defaults to None, which raises since
            ``decay_rate`` is required.
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
        self.decay_rate = self._parse_decay_rate(cfg.get('decay_rate'), cfg.get('layer_decay_rate'))
        self.decay_type = cfg.get('decay_type', DEFAULT_DECAY_TYPE)
        if not isinstance(self.decay_type, str):
            raise TypeError(f'paramwise_cfg.decay_type must be a str, got {self.decay_type!r}')
        self.num_layers = self._parse_num_layers(cfg.get('num_layers'))
        self.backbone_prefix = cfg.get('backbone_prefix', DEFAULT_BACKBONE_PREFIX)
        if not isinstance(self.backbone_prefix, str) or (
            self.backbone_prefix and not self.backbone_prefix.endswith('.')
        ):
            raise ValueError(f"paramwise_cfg.backbone_prefix must be '' or end with '.', got {self.backbone_prefix!r}")
        self.no_decay_rule = self._parse_choice('no_decay_rule', NO_DECAY_RULES)
        self.group_by = self._parse_choice('group_by', GROUP_BY)
        if not isinstance(self.base_lr, (int, float)):
            raise ValueError(f'optim_wrapper.optimizer.lr must be a number for layer decay, got {self.base_lr!r}')

    @staticmethod
    def _parse_decay_rate(decay_rate: Any, layer_decay_rate: Any) -> float:
        if decay_rate is not None and layer_decay_rate is not None and decay_rate != layer_decay_rate:
            raise ValueError(
                f'paramwise_cfg.decay_rate={decay_rate!r} and paramwise_cfg.layer_decay_rate={layer_decay_rate!r} '
                'disagree; they are two spellings of one key (mmdet/mmseg and mmpretrain): give one'
            )
        decay_rate = layer_decay_rate if decay_rate is None else decay_rate
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

    def _parse_choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.paramwise_cfg.get(key, choices[0])
        if value not in choices:
            raise ValueError(f'paramwise_cfg.{key} must be one of {choices}, got {value!r}')
        return value

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
        bypass_duplicate = self.paramwise_cfg.get('bypass_duplicate', False)
        entries, frozen, seen = [], [], {}
        for module_name, module in model.named_modules():
            for leaf, param in module.named_parameters(recurse=False):
                name = f'{module_name}.{leaf}' if module_name else leaf
                if not param.requires_grad:
                    frozen.append(name)
                    continue
                if id(param) in seen:
                    if bypass_duplicate:
                        continue
                    raise ValueError(
                        f'Parameter {name!r} is {seen[id(param)]!r} (shared by two modules); '
                        'set paramwise_cfg.bypass_duplicate=True to optimise it once'
                    )
                seen[id(param)] = name
                layer_id, max_id = layer_depth(name)
                entries.append((name, param, module, layer_id, max_id))
        num_layers = self._check_layer_ids(entries)
        groups: dict[tuple, dict] = {}
        for name, param, module, layer_id, _ in entries:
            key, settings = self._group_settings(name, param, module, layer_id, num_layers)
            if self.group_by == 'param':
                groups[(name,)] = dict(settings, params=[param], param_name=name, group_name=name)
                continue
            if key not in groups:
                groups[key] = dict(settings, params=[], param_names=[])
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        return list(groups.values()), frozen

    def _layer_depth_fn(self, model: nn.Module) -> LayerDepthFn:
        """``name -> (layer_id, num_layers + 2)`` for the backbone (see the class docstring for the order)."""
        backbone = self._find_backbone(model)
        names = [name for name, _ in backbone.named_parameters()]
        get_layer_depth = getattr(backbone, 'get_layer_depth', None)
        if callable(get_layer_depth) and self._takes_decay_type(get_layer_depth):
            return partial(
                get_layer_depth, prefix=self.backbone_prefix, decay_type=self.decay_type, num_layers=self.num_layers
            )
        depths, why_not_convnext = convnext_depths(names)
        if depths is not None:
            return self._convnext_rule(depths)
        if callable(get_layer_depth):
            return self._two_argument_rule(backbone, get_layer_depth)
        num_vit_layers = vit_num_layers(names)
        if num_vit_layers:
            return self._vit_rule(num_vit_layers)
        raise UngroupableBackboneError(
            f'LayerDecayOptimWrapperConstructor cannot group the backbone {type(backbone).__name__} at '
            f'{self._backbone_path()!r}: it has no get_layer_depth(param_name, prefix[, decay_type, num_layers]), '
            f"{why_not_convnext}, nor like a ViT ('layers.<i>.…'); "
            f'its parameters: {self._some(names)}'
        )

    @staticmethod
    def _takes_decay_type(get_layer_depth: Callable) -> bool:
        """Whether ``get_layer_depth`` follows our protocol (takes ``decay_type`` and ``num_layers``)."""
        accepted = inspect.signature(get_layer_depth).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        return takes_kwargs or {'decay_type', 'num_layers'} <= set(accepted)

    def _convnext_rule(self, depths: tuple[int, ...]) -> LayerDepthFn:
        if self.decay_type not in DECAY_TYPES:
            raise ValueError(f'Unknown decay_type {self.decay_type!r}; expected one of {DECAY_TYPES}')
        num_layers = self.num_layers or default_num_layers(depths, self.decay_type)
        rule = partial(convnext_layer_id, decay_type=self.decay_type, num_layers=num_layers, depths=depths)
        return partial(_by_name, rule, self.backbone_prefix, num_layers)

    def _two_argument_rule(self, backbone: nn.Module, get_layer_depth: Callable) -> LayerDepthFn:
        if self.decay_type != DEFAULT_DECAY_TYPE or self.num_layers is not None:
            raise ValueError(
                f'{type(backbone).__name__}.get_layer_depth(param_name, prefix) takes no decay_type or num_layers, '
                f'so paramwise_cfg must leave decay_type={DEFAULT_DECAY_TYPE!r} and num_layers=None; '
                f'got decay_type={self.decay_type!r}, num_layers={self.num_layers!r}'
            )
        return partial(get_layer_depth, prefix=self.backbone_prefix)

    def _vit_rule(self, num_vit_layers: int) -> LayerDepthFn:
        if self.decay_type not in VIT_DECAY_TYPES:
            raise UngroupableBackboneError(
                f'decay_type={self.decay_type!r} needs a backbone named like ConvNeXt; the backbone at '
                f"{self._backbone_path()!r} is named like a ViT ('layers.<i>.…'), which has {VIT_DECAY_TYPES}"
            )
        num_layers = self.num_layers or num_vit_layers
        return partial(_by_name, partial(vit_layer_id, num_layers=num_layers), self.backbone_prefix, num_layers)

    def _backbone_path(self) -> str:
        return self.backbone_prefix[:-1] or 'the model root'

    @staticmethod
    def _some(names: list[str]) -> str:
        if not names:
            return 'none'
        more = f' and {len(names) - NAMES_IN_ERROR} more' if len(names) > NAMES_IN_ERROR else ''
        return ', '.join(repr(name) for name in names[:NAMES_IN_ERROR]) + more

    def _find_backbone(self, model: nn.Module) -> nn.Module:
        path = self.backbone_prefix[:-1]
        try:
            return model.get_submodule(path) if path else model
        except AttributeError as error:
            raise UngroupableBackboneError(
                f'LayerDecayOptimWrapperConstructor needs a backbone at {path!r} of {type(model).__name__}, '
                f"which has no submodule {path!r} (e.g. model.backbone=dict(type='convnext.ConvNeXt'); "
                'set paramwise_cfg.backbone_prefix if the backbone lives elsewhere)'
            ) from error

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
        """Weight-decay multiplier: custom key, then mmengine options, then the ``no_decay_rule``."""
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
        return 0.0 if is_no_decay(name, param.ndim, self.no_decay_rule) else 1.0

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
