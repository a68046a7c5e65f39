"""ConvNeXt V1/V2 for OpenMMLab 2.0: backbones, layer-decay optimizers, FCMAE.

Importing the package registers its modules in the ``convnext`` registry
scope (see :mod:`convnext.registry`); configs of mmdet, mmseg and mmpretrain
then use ``type='convnext.ConvNeXt'`` without ``custom_imports``.
"""

from .version import __version__

__all__ = ['__version__']
