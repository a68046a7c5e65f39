"""Dense masked ConvNeXt V2 encoders for FCMAE (no MinkowskiEngine needed).

Both functions here drive the modules of a :class:`convnext.ConvNeXtV2`
backbone (stem, downsampling layers, each block's ``dwconv``, its per-position
layers :meth:`ConvNeXtBlock.pointwise` and its ``drop_path``) on a masked image
and compute the function of the official sparse encoder, with GRN statistics
taken per sample over the visible positions. Hooks on the modules fire, a
replaced module is used, and a change to the block changes both encoders:

* :func:`encode_plain` is plain dense masking (the JAX recipe of the ConvNeXt
  V2 ``TRAINING.md``): everything is computed at every position and binary
  masks are applied after the stem, after every convolution and downsampling
  layer, before GRN and at each block output. It is the reference and the
  benchmark baseline.
* :func:`encode_gathered` (the ``dense`` backend) computes the same values but
  runs the per-position layers of each block (LayerNorm, pwconv1, GELU, GRN,
  pwconv2), which hold most of the FLOPs, only on the visible rows of the
  ``(N * H * W, C)`` channels-last matrix: gather, compute, scatter back.

The mask granularity equals the total stride of the backbone, so every stem
cell and every 2x2/s2 downsampling window is entirely visible or entirely
removed, and the 7x7 depthwise convolution sees zeros at removed positions:
no information flows from removed patches into visible ones.
"""

from dataclasses import dataclass
from typing import Any

import torch

from ..backbones.convnext import ConvNeXt, ConvNeXtBlock


@dataclass(frozen=True)
class StageMask:
    """Visibility of one stage's feature map.

    Attributes:
        visible: Float map ``(N, 1, H, W)``, 1 = visible, channels-last.
        index: Flat indices ``(M,)`` of the visible positions in the ``(N * H * W)`` rows.
        sample_idx: Sample of each visible row ``(M,)``.
        equal_counts: Whether every sample has the same number of visible rows.
    """

    visible: torch.Tensor
    index: torch.Tensor
    sample_idx: torch.Tensor
    equal_counts: bool


class GatherRows(torch.autograd.Function):
    """``rows = x.index_select(0, index)`` for unique indices, with a copy-based backward.

    The stock backward scatters with ``index_add`` (atomic accumulation); the
    indices of visible positions are unique, so a plain ``index_copy`` into a
    zero matrix gives the same gradient faster.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.num_rows = x.shape[0]
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (index,) = ctx.saved_tensors
        full = grad.new_zeros(ctx.num_rows, grad.shape[1])
        return full.index_copy_(0, index, grad), None


def stage_masks(removed: torch.Tensor, num_stages: int) -> list[StageMask]:
    """Visibility of every stage from the removed map at the first stage's resolution.

    Args:
        removed: Float map ``(N, 1, H0, W0)``, 1 = removed; ``H0, W0`` divisible
            by ``2 ** (num_stages - 1)``.
        num_stages: Number of stages.

    Returns:
        One :class:`StageMask` per stage, halving the resolution each time.
    """
    masks = []
    visible = (1.0 - removed).contiguous(memory_format=torch.channels_last)
    for i in range(num_stages):
        if i > 0:
            visible = visible[:, :, ::2, ::2]
        flat = visible.reshape(-1) > 0  # (N * H * W), N-major like the channels-last rows
        index = flat.nonzero().squeeze(1)
        per_sample = visible.shape[2] * visible.shape[3]
        sample_idx = torch.div(index, per_sample, rounding_mode='floor')
        counts = torch.bincount(sample_idx, minlength=visible.shape[0])
        equal = bool((counts == counts[0]).all()) if counts.numel() else True
        masks.append(StageMask(visible.contiguous(memory_format=torch.channels_last), index, sample_idx, equal))
    return masks


def plain_block(block: ConvNeXtBlock, x: torch.Tensor, mask: StageMask) -> torch.Tensor:
    """A block on ``(N, C, H, W)`` computed everywhere, masked after dwconv, before GRN and at the output."""
    visible = mask.visible
    y = (block.dwconv(x) * visible).permute(0, 2, 3, 1)  # (N, H, W, C)
    y = block.pointwise(y, visible=visible.permute(0, 2, 3, 1))
    return x + block.drop_path(y.permute(0, 3, 1, 2) * visible)


def block_rows(block: ConvNeXtBlock, rows: torch.Tensor, mask: StageMask, num_samples: int) -> torch.Tensor:
    """The block's per-position layers and drop path on the visible rows ``(M, C)``, statistics per sample."""
    if mask.equal_counts:  # rows are N-major: (N, K, 1, C) is a map of K positions per sample
        per_sample = rows.view(num_samples, -1, 1, rows.shape[-1])
        return block.drop_path(block.pointwise(per_sample)).view(rows.shape)
    rows = block.pointwise(rows, mask.sample_idx, num_samples)
    return block.drop_path(rows, mask.sample_idx, num_samples)


def gathered_block(block: ConvNeXtBlock, x: torch.Tensor, mask: StageMask) -> torch.Tensor:
    """A block on channels-last ``(N, C, H, W)`` with the 1x1 layers on visible rows only.

    The residual add and the scatter back are one ``index_add`` into a copy of
    ``x``: no zero-filled branch map is materialised.
    """
    n, c, h, w = x.shape
    y = block.dwconv(x).permute(0, 2, 3, 1).reshape(n * h * w, c)  # a view when channels-last
    rows = block_rows(block, GatherRows.apply(y, mask.index), mask, n)
    out = x.permute(0, 2, 3, 1).reshape(n * h * w, c).index_add(0, mask.index, rows)
    return out.view(n, h, w, c).permute(0, 3, 1, 2)  # (N, C, H, W) in channels-last memory


def _encode(backbone: ConvNeXt, imgs: torch.Tensor, removed: torch.Tensor, gathered: bool) -> torch.Tensor:
    masks = stage_masks(removed, backbone.num_stages)
    x = imgs.contiguous(memory_format=torch.channels_last)
    run_block = gathered_block if gathered else plain_block
    for i, mask in enumerate(masks):
        x = backbone.downsample_layers[i](x) * mask.visible
        for block in backbone.stages[i]:
            x = run_block(block, x, mask)
    return x


def encode_plain(backbone: ConvNeXt, imgs: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """Plain dense-masked encoder (compute everything, then mask).

    Args:
        backbone: The ConvNeXt V2 whose modules are used.
        imgs: Images ``(N, 3, H, W)``.
        removed: Float map ``(N, 1, H / 4, W / 4)``, 1 = removed, at the
            stem's resolution.

    Returns:
        Last-stage features ``(N, C, H / s, W / s)``, zero at removed positions.
    """
    return _encode(backbone, imgs, removed, gathered=False)


def encode_gathered(backbone: ConvNeXt, imgs: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """The ``dense`` backend: same output as :func:`encode_plain`, 1x1 layers on visible rows only.

    Args:
        backbone: The ConvNeXt V2 whose modules are used.
        imgs: Images ``(N, 3, H, W)``.
        removed: Float map ``(N, 1, H / 4, W / 4)``, 1 = removed.

    Returns:
        Last-stage features ``(N, C, H / s, W / s)``, zero at removed positions.
    """
    return _encode(backbone, imgs, removed, gathered=True)
