"""UperNet of ``upernet_convnext.py`` on a ConvNeXt V2 backbone."""

_base_ = ['./upernet_convnext.py']

model = dict(backbone={{_base_.convnextv2_backbone}})
