"""ConvNeXt V1 and V2 backbones, one class switched by ``use_grn`` and layer scale.

Parameter names equal the official checkpoints' (``downsample_layers.i.j``,
``stages.i.j.{dwconv,norm,pwconv1,grn,pwconv2,gamma}``, ``norm{i}``), so
official weights load unchanged and the layer-decay rules match by name.

The arguments are those of ``mmpretrain.ConvNeXt`` (mmpretrain 1.2
``models/backbones/convnext.py``) with its meaning and defaults, so a host
config works with only ``type`` changed; what cannot be honoured raises one
:class:`BackboneArgumentError` naming the argument and the value.

The network runs channels-last end to end: the input is converted once to
``torch.channels_last`` memory, every permute between the convolutions and the
channel-wise layers is then a free view. The feature maps are returned as
contiguous ``(N, C, H, W)`` tensors: mmcv's CPU ops (RoIAlign) index raw
memory as NCHW and read channels-last maps wrongly.
"""

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.fx
from mmengine.model import BaseModule, initialize
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from ...registry import MODELS
from ..layer_ids import DECAY_TYPES, LAYER_WISE_STAGES, convnext_layer_id, default_num_layers
from ..layers import GRN, LN_EPS, DropPath, LayerNorm, LayerNorm2d
from .fast_paths import fast_forward

INIT_STD = 0.02
"""Standard deviation of the truncated-normal init of convolutions and linears."""

STEM_STRIDE = 4
"""Default kernel size and stride of the patchify stem (``stem_patch_size``)."""

DOWNSAMPLE_STRIDE = 2
"""Kernel size and stride of the downsampling layers between stages."""

DW_KERNEL = 7
"""Kernel size of the depthwise convolution in every block."""

MLP_RATIO = 4
"""Hidden width of the inverted bottleneck, as a multiple of the block width."""

NORM_TYPES = ('LN2d', 'mmpretrain.LN2d')
"""``norm_cfg`` types honoured: mmpretrain's channel LayerNorm, the only norm its ConvNeXt can run."""

NORM_CFG_KEYS = ('type', 'eps')
"""Keys of ``norm_cfg`` honoured."""

TORCH_LN_EPS = 1e-5
"""``nn.LayerNorm``'s default epsilon: mmpretrain's ``LN2d`` keeps it when ``norm_cfg`` gives no ``eps``."""

DEFAULT_NORM_CFG = {'type': 'LN2d', 'eps': LN_EPS}
"""``norm_cfg`` when None (mmpretrain's default, the official epsilon)."""

DEFAULT_ACT_CFG = {'type': 'GELU'}
"""``act_cfg`` when None (mmpretrain's default)."""

GELU_TYPES = ('GELU', nn.GELU)
"""``act_cfg`` types built as ``nn.GELU`` directly (no registry, so mmcv need not be imported)."""

FOUR_STAGE_DECAY_TYPES = ('layer_wise', 'group')
"""Rules whose ids are defined for the four stages of the official archs only."""

OUT_TYPES = ('featmap', 'avg')
"""``out_type`` values: maps through ``norm{i}``, or vectors with ``norm{i}`` after global average pooling."""


class BackboneArgumentError(ValueError, AssertionError):
    """An argument of :class:`ConvNeXt` that cannot be honoured, named with its value and what is supported.

    Not a ``ConfigError``: the tools prefix it with the config key that failed
    to build (e.g. ``model.backbone.arch:``), as for any other build error.

    Also an ``AssertionError``: ``mmpretrain.ConvNeXt`` checks ``arch`` and
    ``out_indices`` with assertions, so code written against it catches ours too.
    """


def norm_eps(norm_cfg: Mapping[str, Any] | None) -> float:
    """The LayerNorm epsilon of an mmpretrain ``norm_cfg`` (``dict(type='LN2d', eps=...)``).

    As mmpretrain builds it: ``eps`` defaults to ``nn.LayerNorm``'s 1e-5 when the
    dict gives none; None means ``DEFAULT_NORM_CFG`` (eps 1e-6).

    Raises:
        BackboneArgumentError: another norm type or an unknown key.
    """
    if norm_cfg is None:
        norm_cfg = DEFAULT_NORM_CFG
    if not isinstance(norm_cfg, Mapping) or norm_cfg.get('type') not in NORM_TYPES:
        raise BackboneArgumentError(
            f'norm_cfg={norm_cfg!r} is not supported: ConvNeXt normalises over channels only, '
            f"expected dict(type='LN2d', eps=...) (type one of {NORM_TYPES})"
        )
    unknown = sorted(set(norm_cfg) - set(NORM_CFG_KEYS))
    if unknown:
        raise BackboneArgumentError(
            f'norm_cfg={dict(norm_cfg)!r}: keys {unknown} are not supported; expected only {NORM_CFG_KEYS}'
        )
    eps = norm_cfg.get('eps', TORCH_LN_EPS)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
        raise BackboneArgumentError(f'norm_cfg={dict(norm_cfg)!r}: eps must be a positive number, got {eps!r}')
    return float(eps)


def build_activation(act_cfg: Mapping[str, Any] | None) -> nn.Module:
    """The activation of an mmpretrain ``act_cfg``: ``nn.GELU`` for GELU, else built through the registry.

    Any activation registered in mmengine's ``MODELS`` (mmcv registers the
    ``torch.nn`` ones: ReLU, SiLU, ...) is honoured; only plain GELU takes the
    block's fused CPU path.

    Raises:
        BackboneArgumentError: the type is not registered or its arguments do not fit.
    """
    if act_cfg is None:
        act_cfg = DEFAULT_ACT_CFG
    if not isinstance(act_cfg, Mapping) or 'type' not in act_cfg:
        raise BackboneArgumentError(f"act_cfg={act_cfg!r} is not supported: expected a dict with a 'type'")
    cfg = dict(act_cfg)
    try:
        if cfg['type'] in GELU_TYPES:
            cfg.pop('type')
            return nn.GELU(**cfg)
        activation = MODELS.build(cfg)
    except KeyError as error:
        raise BackboneArgumentError(
            f'act_cfg={dict(act_cfg)!r}: type {act_cfg["type"]!r} is not registered; expected GELU or an activation '
            f"registered in mmengine's MODELS, e.g. dict(type='ReLU')"
        ) from error
    except (TypeError, ValueError) as error:
        raise BackboneArgumentError(f'act_cfg={dict(act_cfg)!r} cannot be built: {error}') from error
    if not isinstance(activation, nn.Module):
        raise BackboneArgumentError(f'act_cfg={dict(act_cfg)!r} built a {type(activation).__name__}, not an nn.Module')
    return activation


def checkpoint_applies(x: torch.Tensor) -> bool:
    """Whether gradient checkpointing (``with_cp``) saves anything: ``x`` requires grad, no fx tracer.

    An fx ``Proxy`` has no ``requires_grad`` to test; the traced graph is the
    function itself, checkpointing is eager autograd's memory strategy.
    """
    return not isinstance(x, torch.fx.Proxy) and x.requires_grad


class ConvNeXtBlock(nn.Module):
    """One ConvNeXt block: dwconv 7x7, LayerNorm, pointwise 4C, GELU, [GRN], pointwise C, [gamma].

    :meth:`residual` is the model, written as the papers' formula through the
    submodules (V1 Fig. 4, V2 Fig. 5; official ``models/convnext.py``
    ``Block``), on channels-last memory so every permute is a free view. Hooks
    on the submodules see the tensors they compute, and a replaced submodule
    is used. On the CPU, inference without any observer runs the same function
    with fused oneDNN kernels (:mod:`.fast_paths`, one switch turns it off).

    The pointwise layers are ``nn.Linear`` on ``(N, H, W, C)`` (the official
    layout, ``linear_pw_conv=True``) or 1x1 ``nn.Conv2d`` on ``(N, C, H, W)``
    with a channel LayerNorm and channel-first GRN (mmpretrain's
    ``linear_pw_conv=False`` layout, whose checkpoints keep 4-D pointwise
    weights). Both compute the same function.

    Args:
        channels: Block width ``C``.
        drop_path: Stochastic-depth rate of the residual branch. Defaults to 0.
        layer_scale_init_value: Initial value of the per-channel scale
            ``gamma``; no ``gamma`` when <= 0. Defaults to 1e-6.
        use_grn: Adds GRN after the activation (ConvNeXt V2). Defaults to False.
        with_cp: Recomputes the block in the backward pass to save memory
            (forward hooks then fire again during the recomputation).
            Defaults to False.
        norm_eps: Epsilon of the block's LayerNorm. Defaults to 1e-6.
        act_cfg: Activation config (:func:`build_activation`); None is GELU.
            Defaults to None.
        linear_pw_conv: ``nn.Linear`` pointwise layers when True, 1x1
            ``nn.Conv2d`` when False. Defaults to True.
    """

    def __init__(
        self,
        channels: int,
        drop_path: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        use_grn: bool = False,
        with_cp: bool = False,
        norm_eps: float = LN_EPS,
        act_cfg: Mapping[str, Any] | None = None,
        linear_pw_conv: bool = True,
    ) -> None:
        super().__init__()
        hidden = MLP_RATIO * channels
        self.linear_pw_conv = linear_pw_conv
        self.dwconv = nn.Conv2d(channels, channels, DW_KERNEL, padding=DW_KERNEL // 2, groups=channels)
        if linear_pw_conv:
            self.norm = LayerNorm(channels, eps=norm_eps)
            self.pwconv1 = nn.Linear(channels, hidden)
        else:
            self.norm = LayerNorm2d(channels, eps=norm_eps)
            self.pwconv1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.act = build_activation(act_cfg)
        self.grn = GRN(hidden) if use_grn else None
        self.pwconv2 = nn.Linear(hidden, channels) if linear_pw_conv else nn.Conv2d(hidden, channels, kernel_size=1)
        self.gamma = (
            nn.Parameter(torch.full((channels,), float(layer_scale_init_value))) if layer_scale_init_value > 0 else None
        )
        self.drop_path = DropPath(drop_path)  # the identity when 0; takes rows too (FCMAE encoders)
        self.with_cp = with_cp

    def pointwise(
        self,
        x: torch.Tensor,
        sample_idx: torch.Tensor | None = None,
        num_samples: int | None = None,
        visible: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The per-position layers: norm, pwconv1, act, [grn], pwconv2, [gamma scale].

        The FCMAE encoders run these on the visible positions only.

        Args:
            x: Channels-last maps ``(N, H, W, C)``, or rows ``(M, C)`` of samples ``sample_idx``
                (rows need ``linear_pw_conv=True``).
            sample_idx: Sample ``(M,)`` of each row; GRN then takes per-sample statistics over the
                rows. Defaults to None (maps).
            num_samples: Number of samples ``N`` with ``sample_idx``. Defaults to None.
            visible: Map ``(N, H, W, 1)``, 1 at visible positions: GRN's input is zeroed elsewhere
                (masked-dense FCMAE). Defaults to None.

        Returns:
            ``(N, H, W, C)`` or ``(M, C)``.
        """
        if not self.linear_pw_conv:
            if sample_idx is not None:
                raise ValueError('ConvNeXtBlock.pointwise takes rows only with linear_pw_conv=True, got False')
            first_visible = None if visible is None else visible.permute(0, 3, 1, 2)
            return self.pointwise_channels_first(x.permute(0, 3, 1, 2), first_visible).permute(0, 2, 3, 1)
        x = self.act(self.pwconv1(self.norm(x)))  # (..., 4C)
        if self.grn is not None:
            if visible is not None:
                x = x * visible
            x = self.grn(x) if sample_idx is None else self.grn(x, sample_idx, num_samples)
        x = self.pwconv2(x)  # (..., C)
        if self.gamma is not None:
            x = x * self.gamma
        return x

    def pointwise_channels_first(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`pointwise` of the 1x1-conv layout (``linear_pw_conv=False``) on ``(N, C, H, W)`` maps.

        mmpretrain's ``ConvNeXtBlock`` with ``linear_pw_conv=False``: channel
        LayerNorm, 1x1 convolutions, GRN over ``H, W`` per channel (run on the
        channels-last view, a free permute of channels-last memory).

        Args:
            x: Maps ``(N, C, H, W)``.
            visible: Map ``(N, 1, H, W)``, 1 at visible positions, zeroing GRN's input elsewhere.
                Defaults to None.

        Returns:
            ``(N, C, H, W)``.
        """
        x = self.act(self.pwconv1(self.norm(x)))  # (N, 4C, H, W)
        if self.grn is not None:
            if visible is not None:
                x = x * visible
            x = self.grn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = self.pwconv2(x)  # (N, C, H, W)
        if self.gamma is not None:
            x = x * self.gamma.reshape(-1, 1, 1)
        return x

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch: ``(N, C, H, W)`` to ``(N, C, H, W)`` (channels-last memory for channels-last input)."""
        x = self.dwconv(x)
        if not self.linear_pw_conv:
            return self.pointwise_channels_first(x)
        return self.pointwise(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (N, H, W, C): a view when channels-last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(N, C, H, W)`` to ``(N, C, H, W)``: ``x + drop_path(residual(x))``.

        The fast path and checkpointing are eager-mode strategies for the same
        function: TorchScript does not compile the body of ``if not
        torch.jit.is_scripting()``, and fx, export and compile tracers get the
        reference path (:func:`.fast_paths.fast_forward` returns None,
        :func:`checkpoint_applies` False).
        """
        if not torch.jit.is_scripting():
            fused = fast_forward(self, x)
            if fused is not None:
                return fused
            if self.with_cp and checkpoint_applies(x):
                return x + self.drop_path(checkpoint(self.residual, x, use_reentrant=False))
        return x + self.drop_path(self.residual(x))


@MODELS.register_module()
class ConvNeXt(BaseModule):
    """ConvNeXt V1/V2 backbone for mmdet, mmseg and mmpretrain.

    `A ConvNet for the 2020s <https://arxiv.org/abs/2201.03545>`_ and
    `ConvNeXt V2 <https://arxiv.org/abs/2301.00808>`_. V1 uses layer scale;
    V2 adds GRN and drops layer scale (see :class:`ConvNeXtV2`). Takes the
    arguments of ``mmpretrain.ConvNeXt`` (1.2) in its order, with its meaning
    and defaults, plus ``out_type``.

    Args:
        arch: A name of :attr:`arch_settings` (atto, femto, pico, nano, tiny,
            small, base, large, xlarge, huge) or a dict with equal-length
            ``depths`` and ``channels``. Defaults to 'tiny'.
        in_channels: Input image channels. Defaults to 3.
        stem_patch_size: Kernel size and stride of the patchify stem.
            Defaults to 4.
        norm_cfg: Norm config of the stem, downsampling, block and output
            norms: ``dict(type='LN2d', eps=...)`` (``eps`` 1e-5 when left out,
            as mmpretrain builds it); other norms raise. None means
            ``dict(type='LN2d', eps=1e-6)``. Defaults to None.
        act_cfg: Activation config of the blocks; GELU or any activation
            registered in mmengine's ``MODELS``. None means
            ``dict(type='GELU')``. Defaults to None.
        linear_pw_conv: Pointwise layers as ``nn.Linear`` (official layout)
            when True, as 1x1 ``nn.Conv2d`` (mmpretrain's alternative layout,
            same function) when False. Defaults to True.
        use_grn: Adds GRN to every block (V2). Defaults to False.
        drop_path_rate: Stochastic-depth rate of the last block; rates grow
            linearly from 0 over all blocks. Defaults to 0.
        layer_scale_init_value: Initial layer-scale value; none when <= 0.
            Defaults to 1e-6.
        out_indices: Stages whose outputs are returned; negative indices
            count from the last stage. Defaults to -1.
        frozen_stages: Number of leading stages (with their downsampling
            layers) frozen and kept in eval mode; 0 or -1 freezes nothing.
            Defaults to 0.
        gap_before_final_norm: True returns ``(N, C_i)`` vectors, ``norm{i}``
            applied after global average pooling (the official classification
            head layout); False returns ``(N, C_i, H / s_i, W / s_i)`` maps
            through ``norm{i}``. None follows ``out_type``, and is True when
            that is not given either (mmpretrain's default). Defaults to None.
        with_cp: Gradient checkpointing per block. Defaults to False.
        init_cfg: mmengine init config; ``dict(type='Pretrained',
            checkpoint=..., prefix=...)`` loads official, FCMAE, timm or
            mmpretrain checkpoints, with the format detected. Defaults to None
            (truncated-normal init, as mmpretrain's default ``init_cfg``).
        out_type: The same choice as ``gap_before_final_norm`` spelled
            'avg' (True) or 'featmap' (False); None follows
            ``gap_before_final_norm``. Both given must agree. Defaults to None.
    """

    arch_settings: dict[str, dict[str, list[int]]] = {
        'atto': {'depths': [2, 2, 6, 2], 'channels': [40, 80, 160, 320]},
        'femto': {'depths': [2, 2, 6, 2], 'channels': [48, 96, 192, 384]},
        'pico': {'depths': [2, 2, 6, 2], 'channels': [64, 128, 256, 512]},
        'nano': {'depths': [2, 2, 8, 2], 'channels': [80, 160, 320, 640]},
        'tiny': {'depths': [3, 3, 9, 3], 'channels': [96, 192, 384, 768]},
        'small': {'depths': [3, 3, 27, 3], 'channels': [96, 192, 384, 768]},
        'base': {'depths': [3, 3, 27, 3], 'channels': [128, 256, 512, 1024]},
        'large': {'depths': [3, 3, 27, 3], 'channels': [192, 384, 768, 1536]},
        'xlarge': {'depths': [3, 3, 27, 3], 'channels': [256, 512, 1024, 2048]},
        'huge': {'depths': [3, 3, 27, 3], 'channels': [352, 704, 1408, 2816]},
    }
    out_types = OUT_TYPES

    # mmengine BaseModule's ``is_init`` property is bookkeeping TorchScript need not (and cannot) compile.
    __jit_unused_properties__ = ['is_init']

    def __init__(
        self,
        arch: str | dict[str, Sequence[int]] = 'tiny',
        in_channels: int = 3,
        stem_patch_size: int = STEM_STRIDE,
        norm_cfg: Mapping[str, Any] | None = None,
        act_cfg: Mapping[str, Any] | None = None,
        linear_pw_conv: bool = True,
        use_grn: bool = False,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        gap_before_final_norm: bool | None = None,
        with_cp: bool = False,
        init_cfg: dict | list[dict] | None = None,
        out_type: str | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.depths, self.channels = self.parse_arch(arch)
        self.num_stages = len(self.depths)
        self.out_indices = self.parse_out_indices(out_indices, self.num_stages)
        self.out_type = self.parse_out_type(out_type, gap_before_final_norm)
        self.gap_before_final_norm = self.out_type == 'avg'
        self.check_ranges(self.num_stages, frozen_stages, drop_path_rate, stem_patch_size)
        self.frozen_stages = frozen_stages
        self.drop_path_rate = drop_path_rate
        self.use_grn = use_grn
        self.stem_patch_size = stem_patch_size
        self.linear_pw_conv = linear_pw_conv
        self.norm_eps = norm_eps(norm_cfg)

        self.downsample_layers = self.build_downsample_layers(in_channels)
        self.stages = self.build_stages(drop_path_rate, layer_scale_init_value, use_grn, with_cp, act_cfg)
        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(self.channels[i], eps=self.norm_eps))
        self._freeze_stages()

    @classmethod
    def parse_arch(cls, arch: str | dict[str, Sequence[int]]) -> tuple[list[int], list[int]]:
        """Returns ``(depths, channels)`` of a named or dict arch, validated."""
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise BackboneArgumentError(
                    f'Unknown arch {arch!r}; expected one of {sorted(cls.arch_settings)} or a dict'
                )
            setting = cls.arch_settings[arch]
        elif isinstance(arch, Mapping):
            missing = {'depths', 'channels'} - set(arch)
            if missing:
                raise BackboneArgumentError(f'arch dict needs keys depths and channels; missing {sorted(missing)}')
            setting = arch
        else:
            raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
        depths, channels = list(setting['depths']), list(setting['channels'])
        if len(depths) != len(channels) or not depths:
            raise BackboneArgumentError(
                f'arch depths and channels must be non-empty and of equal length, '
                f'got depths={depths} ({len(depths)}) and channels={channels} ({len(channels)})'
            )
        if any(not isinstance(v, int) or v <= 0 for v in depths + channels):
            raise BackboneArgumentError(f'arch depths and channels must be positive ints, got {depths} and {channels}')
        return depths, channels

    @staticmethod
    def parse_out_indices(out_indices: int | Sequence[int], num_stages: int) -> tuple[int, ...]:
        """Returns ``out_indices`` as sorted non-negative stage indices (a new tuple)."""
        indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not indices:
            raise BackboneArgumentError('out_indices must name at least one stage')
        resolved = []
        for index in indices:
            if not -num_stages <= index < num_stages:
                raise BackboneArgumentError(
                    f'out_indices entry {index} is out of range for {num_stages} stages '
                    f'(expected {-num_stages}..{num_stages - 1})'
                )
            resolved.append(index % num_stages)
        if len(set(resolved)) != len(resolved):
            raise BackboneArgumentError(f'out_indices {indices} name a stage twice')
        return tuple(sorted(resolved))

    @staticmethod
    def check_ranges(num_stages: int, frozen_stages: int, drop_path_rate: float, stem_patch_size: int) -> None:
        """Raises :class:`BackboneArgumentError` for a value out of its range."""
        if not -1 <= frozen_stages <= num_stages:
            raise BackboneArgumentError(
                f'frozen_stages must be in [-1, {num_stages}] for {num_stages} stages, got {frozen_stages}'
            )
        if not 0.0 <= drop_path_rate < 1.0:
            raise BackboneArgumentError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        if isinstance(stem_patch_size, bool) or not isinstance(stem_patch_size, int) or stem_patch_size <= 0:
            raise BackboneArgumentError(f'stem_patch_size must be a positive int, got {stem_patch_size!r}')

    @staticmethod
    def parse_out_type(out_type: str | None, gap_before_final_norm: bool | None) -> str:
        """The output type, 'avg' or 'featmap', from either spelling (mmpretrain's default 'avg' when neither).

        Raises:
            BackboneArgumentError: an unknown value, or both spellings given and disagreeing.
        """
        if out_type is not None and out_type not in OUT_TYPES:
            raise BackboneArgumentError(f'out_type must be one of {OUT_TYPES} or None, got {out_type!r}')
        if gap_before_final_norm is None:
            return OUT_TYPES[1] if out_type is None else out_type
        if not isinstance(gap_before_final_norm, bool):
            raise BackboneArgumentError(
                f'gap_before_final_norm must be True, False or None, got {gap_before_final_norm!r}'
            )
        from_gap = OUT_TYPES[1] if gap_before_final_norm else OUT_TYPES[0]
        if out_type is not None and out_type != from_gap:
            raise BackboneArgumentError(
                f'out_type={out_type!r} and gap_before_final_norm={gap_before_final_norm} disagree '
                f"(gap_before_final_norm=True is out_type='avg', False is 'featmap'); give one of them"
            )
        return from_gap

    def build_downsample_layers(self, in_channels: int) -> nn.ModuleList:
        """The patchify stem and the LayerNorm + 2x2/s2 convolutions between stages."""
        stem = nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], self.stem_patch_size, stride=self.stem_patch_size),
            LayerNorm2d(self.channels[0], eps=self.norm_eps),
        )
        layers = [stem]
        for i in range(1, self.num_stages):
            layers.append(
                nn.Sequential(
                    LayerNorm2d(self.channels[i - 1], eps=self.norm_eps),
                    nn.Conv2d(self.channels[i - 1], self.channels[i], DOWNSAMPLE_STRIDE, stride=DOWNSAMPLE_STRIDE),
                )
            )
        return nn.ModuleList(layers)

    def build_stages(
        self,
        drop_path_rate: float,
        layer_scale_init_value: float,
        use_grn: bool,
        with_cp: bool,
        act_cfg: Mapping[str, Any] | None = None,
    ) -> nn.ModuleList:
        """The stages of blocks, drop-path rates linear in the global block index."""
        # On the CPU explicitly, so a model can be built under ``torch.device('meta')``.
        rates = torch.linspace(0, drop_path_rate, sum(self.depths), device='cpu').tolist()
        stages, first = [], 0
        for depth, channels in zip(self.depths, self.channels, strict=True):
            blocks = [
                ConvNeXtBlock(
                    channels,
                    rates[first + j],
                    layer_scale_init_value,
                    use_grn,
                    with_cp,
                    norm_eps=self.norm_eps,
                    act_cfg=act_cfg,
                    linear_pw_conv=self.linear_pw_conv,
                )
                for j in range(depth)
            ]
            stages.append(nn.Sequential(*blocks))
            first += depth
        return nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> Any:
        """Maps images ``(N, in_channels, H, W)`` to one output per ``out_indices`` entry.

        Returns:
            A tuple (a list under TorchScript, which has no variable-length
            tuples) of, per requested stage ``i``: ``(N, channels[i])``
            vectors when ``gap_before_final_norm``, else ``(N, channels[i],
            H / s_i, W / s_i)`` maps, ``s_i = stem_patch_size * 2^i``.
        """
        x = x.contiguous(memory_format=torch.channels_last)
        outs: list[torch.Tensor] = []
        for i, (downsample, stage) in enumerate(zip(self.downsample_layers, self.stages, strict=True)):
            x = stage(downsample(x))
            if i in self.out_indices:
                outs.append(self._stage_output(i, x))
        if torch.jit.is_scripting():
            return outs
        return tuple(outs)

    def _stage_output(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Stage ``index``'s output from its map ``x``: ``norm{index}`` after global average pooling or not.

        Pooling keeps ``(N, C, 1, 1)`` for the norm, then flattens, as mmpretrain does.
        """
        if self.gap_before_final_norm:
            return self._output_norm(index, x.mean((-2, -1), keepdim=True)).flatten(1)
        return self._output_norm(index, x).contiguous()

    def _output_norm(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """``norm{index}(x)``.

        TorchScript cannot ``getattr`` a computed name: scripted, the norm is
        the child of that name among those with a ``normalized_shape`` (the
        LayerNorms), found by a loop TorchScript unrolls at compile time; the
        ``hasattr`` test is resolved then too, so no call to the
        ``ModuleList`` children is compiled.
        """
        name = f'norm{index}'
        if not torch.jit.is_scripting():
            return getattr(self, name)(x)
        out: torch.Tensor | None = None
        for child_name, child in self.named_children():
            if hasattr(child, 'normalized_shape'):
                if child_name == name:
                    out = child(x)
        if out is None:
            raise RuntimeError(f'Scripted ConvNeXt has no LayerNorm {name} for out_indices {self.out_indices}')
        return out

    def _freeze_stages(self) -> None:
        for i in range(max(self.frozen_stages, 0)):
            for module in (self.downsample_layers[i], self.stages[i]):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'ConvNeXt':
        """Sets the training mode, keeping frozen stages in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def init_weights(self) -> None:
        """Truncated-normal init, or loads the ``Pretrained`` checkpoint of ``init_cfg``.

        Convolutions and linears get ``trunc_normal_(std=.02)`` and zero bias,
        LayerNorms weight 1 and bias 0, GRN and layer scale keep their
        construction values. Other ``init_cfg`` entries (mmengine
        initialisers) are applied next, and a ``Pretrained`` checkpoint is
        loaded last, also from a list, so parameters it lacks (e.g.
        ``norm0..2``) are still initialised.
        """
        self.apply(self._init_module)
        init_cfgs = [] if self.init_cfg is None else copy.deepcopy(self.init_cfg)
        init_cfgs = init_cfgs if isinstance(init_cfgs, list) else [init_cfgs]
        others = [cfg for cfg in init_cfgs if cfg.get('type') != 'Pretrained']
        if others:  # e.g. mmpretrain's default list (TruncNormal, Constant): its rules equal ours
            initialize(self, others)
        for cfg in init_cfgs:
            if cfg.get('type') == 'Pretrained':  # last, as mmengine orders them; any format, converted
                from ..checkpoint import load_pretrained

                load_pretrained(self, cfg['checkpoint'], prefix=cfg.get('prefix'))
        self._is_init = True

    @staticmethod
    def _init_module(module: nn.Module) -> None:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, _BatchNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def default_num_layers(self, decay_type: str = 'layer_wise') -> int:
        """The official ``num_layers`` of a decay rule for this arch (:func:`..layer_ids.default_num_layers`).

        6 when the third stage has at most 9 blocks, otherwise 12, for
        ``layer_wise`` and ``stage_wise``; ``sum(depths)`` for ``single``; 12
        for ``group``.
        """
        self._check_decay_type(decay_type)
        return default_num_layers(tuple(self.depths), decay_type)

    def get_layer_depth(
        self,
        param_name: str,
        prefix: str = '',
        decay_type: str = 'layer_wise',
        num_layers: int | None = None,
    ) -> tuple[int, int]:
        """Layer id of a parameter for layer-wise learning-rate decay.

        Follows mmpretrain's protocol: returns ``(layer_id, num_layers + 2)``;
        the learning-rate scale is then ``decay_rate ** (num_layers + 1 -
        layer_id)``, and parameters outside the backbone get ``num_layers + 1``
        (scale 1). The id rules are the official ones
        (:func:`..layer_ids.convnext_layer_id`). Ids are not clipped: an
        explicit ``num_layers`` that is too small gives ids above
        ``num_layers + 1``, which the constructor reports.

        Args:
            param_name: Full parameter name, e.g. ``backbone.stages.2.4.pwconv1.weight``.
            prefix: Prefix of the backbone's parameters, e.g. ``backbone.``.
                Defaults to ''.
            decay_type: One of 'layer_wise', 'stage_wise', 'single', 'group'.
                Defaults to 'layer_wise'.
            num_layers: Number of layer ids; ``default_num_layers(decay_type)``
                when None. Defaults to None.

        Raises:
            ValueError: An unknown ``decay_type``, or ``layer_wise``/``group``
                for an arch without four stages.
        """
        self._check_decay_type(decay_type)
        if decay_type in FOUR_STAGE_DECAY_TYPES and self.num_stages != LAYER_WISE_STAGES:
            raise ValueError(f'{decay_type} decay needs {LAYER_WISE_STAGES} stages, this arch has {self.num_stages}')
        if num_layers is None:
            num_layers = self.default_num_layers(decay_type)
        if not param_name.startswith(prefix):
            return num_layers + 1, num_layers + 2
        layer_id = convnext_layer_id(param_name[len(prefix) :], decay_type, num_layers, tuple(self.depths))
        return layer_id, num_layers + 2

    @staticmethod
    def _check_decay_type(decay_type: str) -> None:
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'Unknown decay_type {decay_type!r}; expected one of {DECAY_TYPES}')


@MODELS.register_module()
class ConvNeXtV2(ConvNeXt):
    """ConvNeXt V2 backbone: :class:`ConvNeXt` with GRN on and no layer scale.

    Takes the same arguments as :class:`ConvNeXt`; only the defaults of
    ``use_grn`` (True) and ``layer_scale_init_value`` (0) differ.
    """

    def __init__(self, *args: Any, use_grn: bool = True, layer_scale_init_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, use_grn=use_grn, layer_scale_init_value=layer_scale_init_value, **kwargs)
