"""The ImageNet classifier every ConvNeXt classification base builds on: a ConvNeXt backbone that pools, then applies
its final LayerNorm ((N, C) vectors, the official head layout: norm after global average pooling), and a linear head
with a label-smoothed cross-entropy loss and trunc-normal init. What differs between recipes is set once in the base
of each: the backbone version, the pre-trained start, the head init scale, label smoothing and Mixup / CutMix (see
``convnext_cls.py``, ``convnextv2_cls.py``, ``convnext_ft.py``, ``convnextv2_ft.py``, ``fcmae_ft.py``,
``fcmae_ft_afpn.py``). Leaves set the size (``arch``, ``head.in_channels``) and the drop path."""

_base_ = ['./weights.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(arch='tiny', out_indices=-1, out_type='avg'),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', bias=0.0),
    ),
)
