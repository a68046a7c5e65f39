"""Models of the ``convnext`` scope; importing this module registers them."""

from .backbones import ConvNeXt, ConvNeXtV2
from .layers import GRN, DropPath, LayerNorm2d
from . import selfsup  # noqa: F401

__all__ = ['GRN', 'ConvNeXt', 'ConvNeXtV2', 'DropPath', 'LayerNorm2d']
