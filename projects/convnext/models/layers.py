"""Building blocks shared by the ConvNeXt backbones, FCMAE and its decoder.

Everything here works on channels-last data where it can: a ``(N, C, H, W)``
tensor in ``torch.channels_last`` memory is physically ``(N, H, W, C)``, so a
``permute(0, 2, 3, 1)`` is a free view and LayerNorm, Linear and GRN read
contiguous memory without the copies the official permute-based code pays.
"""

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-6
"""LayerNorm epsilon used everywhere in the official ConvNeXt code."""

GRN_EPS = 1e-6
"""Epsilon added to the channel mean in GRN's denominator (official value)."""


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of ``(N, C, H, W)`` or ``(N, C)`` data.

    Equals the official ``LayerNorm(data_format='channels_first')``: each
    spatial position is normalised over its ``C`` channels with the biased
    variance. On channels-last input both permutes are free views, and the
    output keeps the input's memory format.

    Args:
        num_channels: Number of channels ``C``.
        eps: Added to the variance. Defaults to 1e-6, the official value.
    """

    def __init__(self, num_channels: int, eps: float = LN_EPS) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalises ``x`` of shape ``(N, C, H, W)`` or ``(N, C)`` over ``C``."""
        if x.dim() == 2:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalization of ConvNeXt V2, on channels-last data.

    ``Gx = ||X||_2`` over ``H, W`` per sample and channel; ``Nx = Gx / (mean_C(Gx)
    + 1e-6)``; ``out = gamma * (X * Nx) + beta + X``, computed as one fused
    ``beta + X * (1 + gamma * Nx)`` pass over ``X``. ``gamma`` and ``beta`` start
    at zero, so the layer starts as the identity. Positions that must not
    contribute to the statistics (FCMAE's removed patches) must be zero in ``X``.

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies GRN to ``x`` of shape ``(N, H, W, C)``; returns the same shape."""
        gx = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
        return torch.addcmul(self.beta, x, torch.addcmul(torch.ones_like(nx), self.gamma, nx))


class DropPath(nn.Module):
    """Stochastic depth: zeroes whole samples of a residual branch.

    Kept samples are scaled by ``1 / (1 - drop_prob)``, as in timm and mmcv.

    Args:
        drop_prob: Probability of dropping a sample's branch. Defaults to 0.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drops samples of ``x`` of shape ``(N, ...)`` in training mode."""
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        keep = x.new_empty(shape).bernoulli_(keep_prob).div_(keep_prob)
        return x * keep

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
