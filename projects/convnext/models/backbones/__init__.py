from .convnext import ConvNeXt, ConvNeXtBlock, ConvNeXtV2

__all__ = ['ConvNeXt', 'ConvNeXtBlock', 'ConvNeXtV2']
