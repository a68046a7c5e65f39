"""UperNet (mmseg's ``upernet_r50.py``: pool scales 1, 2, 3, 6, 512 channels, SyncBN, auxiliary FCN head on stage
3 with loss weight 0.4) on a ConvNeXt V1 backbone for the 150 ADE20K classes, as the official ConvNeXt segmentation
configs. Leaves set the size (``arch``, the heads' ``in_channels``), the drop path, the checkpoint and the crop
(``data_preprocessor.size``, the sliding-window ``test_cfg``)."""

_base_ = ['mmseg::_base_/models/upernet_r50.py', './convnext_backbone.py']

model = dict(
    pretrained=None,
    backbone={{_base_.convnext_backbone}},
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
)
