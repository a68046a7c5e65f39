"""UperNet of ``upernet_ade20k.py`` on a ConvNeXt V2 backbone. Leaves set the size (``arch``, the heads'
``in_channels``), the drop path, the checkpoint and the crop (``data_preprocessor.size``, the sliding-window
``test_cfg``)."""

_base_ = ['./upernet_ade20k.py', './convnext_backbone.py']

model = dict(backbone={{_base_.convnextv2_backbone}})
