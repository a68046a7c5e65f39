"""Models of the ``convnext`` scope; importing this module registers them.

FCMAE (:mod:`convnext.models.selfsup`) imports mmpretrain, so it is imported
separately: the registry lists it in its ``locations``.
"""

from .backbones import ConvNeXt, ConvNeXtV2
from .layers import GRN, DropPath, LayerNorm2d

__all__ = ['GRN', 'ConvNeXt', 'ConvNeXtV2', 'DropPath', 'LayerNorm2d']
