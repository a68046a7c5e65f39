"""MinkowskiEngine sparse ConvNeXt V2 encoder for FCMAE (the ``minkowski`` backend).

The official sparse encoder, rebuilt on stock MinkowskiEngine 0.5.4 and driven
by the weights of a dense :class:`convnext.ConvNeXtV2`, so both backends share
one set of parameters and one checkpoint layout:

* the 7x7 depthwise convolution runs as ``MinkowskiChannelwiseConvolution``
  (stock ME has no ``MinkowskiDepthwiseConvolution``; that exists only in the
  fork the official code needs), its kernel ``(49, C)`` being the dense
  ``(C, 1, 7, 7)`` weight with H and W swapped (the inverse of the official
  sparse-to-dense remap, ConvNeXt-V2 ``utils.py`` ``remap_checkpoint_keys``);
* the 2x2/s2 downsampling convolutions run as ``MinkowskiConvolution`` with
  the kernel ``(4, C_in, C_out)`` mapped the same way;
* the downsampling LayerNorms and each block's per-position layers
  (:meth:`ConvNeXtBlock.pointwise`: LayerNorm, Linear, GELU, GRN, Linear) and
  ``drop_path`` are the backbone's own modules, called on the feature rows, so
  their hooks fire and replaced modules are used.

The kernels are computed from the dense parameters at every call, so the
gradients reach the dense parameters. The convolutions cannot run a replaced
module or its hooks: :func:`unsupported_modules` names such convolutions, and
FCMAE then uses the ``dense`` backend, which computes the same function.

GRN differs from the official ``MinkowskiGRN`` on purpose: the official layer
takes its statistics over the active sites of the **whole batch**; here they
are taken per sample over that sample's active sites, as the dense GRN and the
paper's masked-dense (JAX) formulation do, so this backend computes exactly the
function of the ``dense`` backend.

MinkowskiEngine is imported lazily; ``bash tools/install.sh`` builds it (CPU),
``bash tools/install.sh --no-minkowski`` skips it.
"""

from types import ModuleType

import torch
from torch import nn

from ..backbones.convnext import DOWNSAMPLE_STRIDE, DW_KERNEL, ConvNeXt, ConvNeXtBlock
from ..layers import has_hooks

SPATIAL_DIMS = 2
"""FCMAE's sparse tensors are 2-D (the official code passes ``D=2``)."""


def import_minkowski() -> ModuleType:
    """Imports MinkowskiEngine or raises an ImportError saying how to install it."""
    try:
        import MinkowskiEngine
    except ImportError as error:
        raise ImportError(
            "FCMAE backend='minkowski' needs MinkowskiEngine 0.5.4, which is not importable "
            f'({error}). Build it with `bash tools/install.sh` (CPU build; `--no-minkowski` skips it), '
            "or use backend='dense', which computes the same function."
        ) from error
    return MinkowskiEngine


def dense_to_sparse_conv_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Dense conv weight ``(C_out, C_in, k, k)`` to a Minkowski kernel ``(k * k, C_in, C_out)``."""
    c_out, c_in, k, _ = weight.shape
    return weight.transpose(3, 2).reshape(c_out, c_in, k * k).permute(2, 1, 0).contiguous()


def dense_to_sparse_dw_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Depthwise weight ``(C, 1, k, k)`` to a channel-wise Minkowski kernel ``(k * k, C)``."""
    channels, _, k, _ = weight.shape
    return weight.transpose(3, 2).reshape(channels, k * k).permute(1, 0).contiguous()


def sparse_convolutions(backbone: ConvNeXt) -> dict[str, nn.Module]:
    """The dense convolutions this backend replaces by sparse ones, by name in the backbone."""
    convs = {f'downsample_layers.{i}.1': layer[1] for i, layer in enumerate(backbone.downsample_layers) if i > 0}
    for i, stage in enumerate(backbone.stages):
        convs.update({f'stages.{i}.{j}.dwconv': block.dwconv for j, block in enumerate(stage)})
    return convs


def unsupported_modules(backbone: ConvNeXt) -> list[str]:
    """Convolutions that are not plain ``nn.Conv2d`` or carry hooks: the sparse encoder would bypass them."""
    return [
        name for name, conv in sparse_convolutions(backbone).items() if type(conv) is not nn.Conv2d or has_hooks(conv)
    ]


def _bind(module: nn.Module, kernel: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """Makes a Minkowski module use the given tensors as its ``kernel`` and ``bias``."""
    module._parameters['kernel'] = kernel
    module._parameters['bias'] = None if bias is None else bias.reshape(1, -1).contiguous()
    return module


class MinkowskiEncoder:
    """Sparse forward of a ConvNeXt V2 backbone on masked images.

    Holds parameter-free Minkowski operators (not registered as submodules,
    so they add nothing to the state dict); all weights come from
    ``backbone``.

    Args:
        backbone: The ConvNeXt V2 whose parameters are used.
    """

    def __init__(self, backbone: ConvNeXt) -> None:
        self.me = import_minkowski()
        self.backbone = backbone
        self.downsample_convs = [
            self.me.MinkowskiConvolution(
                layer[1].in_channels,
                layer[1].out_channels,
                kernel_size=DOWNSAMPLE_STRIDE,
                stride=DOWNSAMPLE_STRIDE,
                bias=True,
                dimension=SPATIAL_DIMS,
            )
            for layer in list(backbone.downsample_layers)[1:]
        ]
        self.dw_convs = [
            [
                self.me.MinkowskiChannelwiseConvolution(
                    block.dwconv.in_channels, DW_KERNEL, bias=True, dimension=SPATIAL_DIMS
                )
                for block in stage
            ]
            for stage in backbone.stages
        ]

    def __call__(self, imgs: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
        """Encodes images ``(N, 3, H, W)`` with the stem-resolution removed map ``(N, 1, H / 4, W / 4)``.

        Returns:
            Last-stage features ``(N, C, H / s, W / s)``, zero at removed positions.
        """
        stem = self.backbone.downsample_layers[0](imgs)  # (N, C0, H0, W0)
        coords = (removed[:, 0] == 0).nonzero()  # (M, 3): batch, row, col
        feats = stem.permute(0, 2, 3, 1)[coords[:, 0], coords[:, 1], coords[:, 2]]
        x = self.me.SparseTensor(feats, coordinates=coords.int().contiguous())
        for i, stage in enumerate(self.backbone.stages):
            if i > 0:
                x = self._downsample(i, x)
            for block, dw_conv in zip(stage, self.dw_convs[i], strict=True):
                x = self._block(block, dw_conv, x, imgs.shape[0])
        stride = x.tensor_stride[0]
        shape = torch.Size([imgs.shape[0], x.F.shape[1], removed.shape[-2] // stride, removed.shape[-1] // stride])
        dense, _, _ = x.dense(shape=shape, min_coordinate=torch.zeros(SPATIAL_DIMS, dtype=torch.int))
        return dense

    def unsupported_modules(self) -> list[str]:
        """Names of the backbone's convolutions this encoder would bypass (:func:`unsupported_modules`)."""
        return unsupported_modules(self.backbone)

    def _like(self, x: 'object', feats: torch.Tensor) -> 'object':
        key, manager = x.coordinate_map_key, x.coordinate_manager
        return self.me.SparseTensor(feats, coordinate_map_key=key, coordinate_manager=manager)

    def _downsample(self, i: int, x: 'object') -> 'object':
        norm, conv = self.backbone.downsample_layers[i]
        x = self._like(x, norm(x.F))  # LayerNorm2d on rows (M, C)
        sparse_conv = _bind(self.downsample_convs[i - 1], dense_to_sparse_conv_kernel(conv.weight), conv.bias)
        return sparse_conv(x)

    def _block(self, block: ConvNeXtBlock, dw_conv: nn.Module, x: 'object', num_samples: int) -> 'object':
        y = _bind(dw_conv, dense_to_sparse_dw_kernel(block.dwconv.weight), block.dwconv.bias)(x)
        sample_idx = x.C[:, 0].long().to(x.F.device)
        rows = block.pointwise(y.F, sample_idx, num_samples)  # GRN per sample, not batch-global
        rows = block.drop_path(rows, sample_idx, num_samples)
        return self._like(x, x.F + rows)
