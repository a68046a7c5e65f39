"""Building blocks shared by the ConvNeXt backbones, FCMAE and its decoder.

:func:`has_hooks` is the one test of whether hooks observe a module: the
backbone's fused CPU fast path and FCMAE's sparse encoder, which use a
module's weights without calling it, ask it.

Everything here works on channels-last data where it can: a ``(N, C, H, W)``
tensor in ``torch.channels_last`` memory is physically ``(N, H, W, C)``, so a
``permute(0, 2, 3, 1)`` is a free view and LayerNorm, Linear and GRN read
contiguous memory without the copies the official permute-based code pays.

Half precision: LayerNorm and GRN take their statistics in float32 and return
the input's dtype. An fp16 ``||X||_2`` over ``H x W`` overflows (65504) for
activations of a few thousand over a 56x56 map, which deep V2 blocks produce;
the explicit ``.float()`` casts are plain ops, so exported graphs (ONNX,
TensorRT) keep the reductions in float32 as well. For float32 input the casts
are no-ops.

Graph tools: every forward here is one straight path of tensor ops, with no
Python branch on a tensor's rank, shape or flags, so ``torch.fx.symbolic_trace``
(and torchvision's ``create_feature_extractor``), ``torch.jit.script`` and
``torch.export.export`` record the same function eager mode runs.
"""

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-6
"""LayerNorm epsilon used everywhere in the official ConvNeXt code."""

GRN_EPS = 1e-6
"""Epsilon added to the channel mean in GRN's denominator (official value)."""

GRN_MIN_SQUARED_SUM = torch.finfo(torch.float32).tiny
"""Floor of GRN's squared norms before the square root (smallest normal float32): finite gradients at zero."""

HOOK_DICTS = ('_forward_hooks', '_forward_pre_hooks', '_backward_hooks', '_backward_pre_hooks')
"""``nn.Module``'s per-module hook registries (``register_forward_hook``, ``register_forward_pre_hook``,
``register_full_backward_hook``, ``register_full_backward_pre_hook``)."""


def layer_norm(
    x: torch.Tensor,
    normalized_shape: list[int],
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
) -> torch.Tensor:
    """``F.layer_norm`` over the last dimensions, computed in float32, returned in ``x``'s dtype."""
    weight = None if weight is None else weight.float()
    bias = None if bias is None else bias.float()
    return F.layer_norm(x.float(), normalized_shape, weight, bias, eps).to(x.dtype)


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the last dimension with float32 statistics for half-precision input.

    The block's ``norm`` on channels-last ``(N, H, W, C)`` data. Same
    parameters, arguments and float32 results as ``nn.LayerNorm``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalises ``x`` of shape ``(..., C)`` over ``C``; returns ``x``'s dtype."""
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of ``(N, C, H, W)`` or ``(N, C)`` data.

    Equals the official ``LayerNorm(data_format='channels_first')``: each
    spatial position is normalised over its ``C`` channels with the biased
    variance, in float32 for half-precision input. On channels-last input
    both permutes are free views, and the output keeps the input's memory
    format and dtype.

    Args:
        num_channels: Number of channels ``C``.
        eps: Added to the variance. Defaults to 1e-6, the official value.
    """

    def __init__(self, num_channels: int, eps: float = LN_EPS) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalises ``x`` of shape ``(N, C, H, W)`` or ``(N, C)`` over ``C``.

        ``movedim(1, -1)`` is ``permute(0, 2, 3, 1)`` on maps and the identity
        on vectors: one path for both ranks, which symbolic tracing needs.
        """
        x = layer_norm(x.movedim(1, -1), self.normalized_shape, self.weight, self.bias, self.eps)
        # A non-negative source dim: the ONNX exporter writes movedim(-1, 1) as Transpose perm [0, -1, 1, 2],
        # which onnxruntime refuses.
        return x.movedim(x.dim() - 1, 1)


def grn_scale(
    squared_sums: torch.Tensor, eps: float = GRN_EPS, min_squared_sum: float = GRN_MIN_SQUARED_SUM
) -> torch.Tensor:
    """GRN's normalised response ``Nx = Gx / (mean_C(Gx) + eps)`` from per-channel squared sums ``(..., C)``.

    ``Gx = sqrt(sum x^2)``, the squared sums floored at the smallest normal
    float32 so the gradient of a channel that is zero everywhere is 0 (as
    ``torch.norm``'s), not NaN. Summing squares then taking the root is as
    fast as ``vector_norm`` forward and about twice as fast backward on the CPU.
    ``min_squared_sum`` is an argument rather than a global read because
    TorchScript cannot read a module-level float.
    """
    gx = squared_sums.clamp_min(min_squared_sum).sqrt()
    return gx / (gx.mean(dim=-1, keepdim=True) + eps)


def grn_apply(x: torch.Tensor, nx: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``gamma * (x * nx) + beta + x`` as one ``beta + x * (1 + gamma * nx)`` pass, in float32.

    Args:
        x: Features ``(..., C)``.
        nx: Normalised response broadcastable to ``x`` (float32).
        gamma: Scale, any shape with ``C`` elements.
        beta: Shift, any shape with ``C`` elements.

    Returns:
        ``x``'s shape and dtype.
    """
    scale = torch.addcmul(torch.ones_like(nx), gamma.float().reshape(-1), nx)
    return torch.addcmul(beta.float().reshape(-1), x.float(), scale).to(x.dtype)


def grn(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = GRN_EPS) -> torch.Tensor:
    """Global Response Normalization of channels-last maps ``(N, H, W, C)``, statistics in float32.

    ``Gx = ||X||_2`` over ``H, W`` per sample and channel, ``Nx = Gx /
    (mean_C(Gx) + eps)``, ``out = gamma * (X * Nx) + beta + X`` (ConvNeXt V2
    paper, Sec. 3.2, Eq. 1-3; official ``models/utils.py`` ``GRN``).

    Returns:
        ``(N, H, W, C)`` in ``x``'s dtype.
    """
    squared_sums = x.float().square().sum(dim=(1, 2), keepdim=True)  # (N, 1, 1, C)
    return grn_apply(x, grn_scale(squared_sums, eps), gamma, beta)


def grn_rows(
    rows: torch.Tensor,
    sample_idx: torch.Tensor,
    num_samples: int,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    eps: float = GRN_EPS,
) -> torch.Tensor:
    """:func:`grn` on the rows ``(M, C)`` of several samples, statistics per sample over its rows.

    The same function as :func:`grn` on maps that are zero at every position
    without a row (FCMAE's removed patches): the dense and sparse FCMAE
    encoders keep only the visible positions.

    Args:
        rows: Features ``(M, C)``.
        sample_idx: Sample ``(M,)`` of each row, in ``[0, num_samples)``.
        num_samples: Number of samples ``N``.
        gamma: Scale, any shape with ``C`` elements.
        beta: Shift, any shape with ``C`` elements.
        eps: Added to the channel mean of ``Gx``. Defaults to 1e-6.

    Returns:
        ``(M, C)`` in ``rows``' dtype.
    """
    squares = rows.float().square()
    squared_sums = squares.new_zeros(num_samples, rows.shape[-1]).index_add(0, sample_idx, squares)  # (N, C)
    return grn_apply(rows, grn_scale(squared_sums, eps)[sample_idx], gamma, beta)


class GRN(nn.Module):
    """Global Response Normalization of ConvNeXt V2, on channels-last data.

    ``Gx = ||X||_2`` over ``H, W`` per sample and channel; ``Nx = Gx / (mean_C(Gx)
    + 1e-6)``; ``out = gamma * (X * Nx) + beta + X``, computed as one fused
    ``beta + X * (1 + gamma * Nx)`` pass over ``X`` (:func:`grn`), in float32
    for half-precision input, returned in the input's dtype. ``gamma`` and
    ``beta`` start at zero, so the layer starts as the identity. Positions
    that must not contribute to the statistics (FCMAE's removed patches) must
    be zero in ``X``, or left out: given ``sample_idx``, the input is the rows
    ``(M, C)`` of ``num_samples`` samples (:func:`grn_rows`).

    Args:
        num_channels: Number of channels ``C``.
        eps: Added to the channel mean of ``Gx``. Defaults to 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = GRN_EPS) -> None:
        super().__init__()
        self.eps = eps
        # Official parameter shape (1, 1, 1, C): official checkpoints load unchanged.
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, num_channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, num_channels))

    def forward(
        self, x: torch.Tensor, sample_idx: torch.Tensor | None = None, num_samples: int | None = None
    ) -> torch.Tensor:
        """GRN of maps ``x`` ``(N, H, W, C)``, or of rows ``x`` ``(M, C)`` of samples ``sample_idx`` ``(M,)``.

        Returns:
            ``x``'s shape and dtype.
        """
        if sample_idx is None:
            return grn(x, self.gamma, self.beta, self.eps)
        if num_samples is None:
            raise ValueError('GRN: num_samples (the number of samples N) is required with sample_idx, got None')
        return grn_rows(x, sample_idx, num_samples, self.gamma, self.beta, self.eps)


def drop_path(
    x: torch.Tensor,
    drop_prob: float = 0.0,
    training: bool = False,
    sample_idx: torch.Tensor | None = None,
    num_samples: int | None = None,
) -> torch.Tensor:
    """Stochastic depth (timm ``layers/drop.py`` ``drop_path``): drops whole samples of a residual branch.

    Kept samples are scaled by ``1 / (1 - drop_prob)``.

    Args:
        x: A branch ``(N, ...)``, or rows ``(M, ...)`` of samples ``sample_idx``.
        drop_prob: Probability of dropping a sample. Defaults to 0.
        training: Identity unless True. Defaults to False.
        sample_idx: Sample ``(M,)`` of each row of ``x``; None: sample ``i`` is ``x[i]``. Defaults to None.
        num_samples: Number of samples ``N`` when ``sample_idx`` is given. Defaults to None.

    Returns:
        ``x``'s shape.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    if sample_idx is None:
        keep = x.new_empty(x.shape[:1]).bernoulli_(keep_prob).div_(keep_prob)
    elif num_samples is None:
        raise ValueError('drop_path: num_samples (the number of samples N) is required with sample_idx, got None')
    else:
        keep = x.new_empty([num_samples]).bernoulli_(keep_prob).div_(keep_prob)[sample_idx]
    # Sample axis moved last so the (N,) keep mask broadcasts whatever x's rank (views, no copy).
    return (x.movedim(0, -1) * keep).movedim(-1, 0)


class DropPath(nn.Module):
    """Stochastic depth (:func:`drop_path`): zeroes whole samples of a residual branch in training mode.

    Kept samples are scaled by ``1 / (1 - drop_prob)``, as in timm and mmcv;
    ``drop_prob=0`` is the identity.

    Args:
        drop_prob: Probability of dropping a sample's branch. Defaults to 0.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob

    def forward(
        self, x: torch.Tensor, sample_idx: torch.Tensor | None = None, num_samples: int | None = None
    ) -> torch.Tensor:
        """Drops samples of ``x`` ``(N, ...)``, or of rows ``x`` ``(M, ...)`` of samples ``sample_idx`` ``(M,)``."""
        return drop_path(x, self.drop_prob, self.training, sample_idx, num_samples)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


def has_hooks(module: nn.Module) -> bool:
    """Whether forward, forward-pre, backward or backward-pre hooks are registered on ``module`` itself.

    A computation that uses a module's weights without calling the module (the
    backbone's fused CPU fast path, FCMAE's sparse convolutions) is allowed
    only when this is False, so that no hook misses a call. Global hooks
    (``torch.nn.modules.module.register_module_forward_hook``) are not counted.
    """
    return any(getattr(module, name, None) for name in HOOK_DICTS)
