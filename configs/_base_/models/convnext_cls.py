"""ImageNet classifier, ConvNeXt V1 backbone, trained from random initialisation (ConvNeXt appendix Table 5).

The backbone pools, then applies its final LayerNorm: (N, C) vectors, the official head layout (norm after global
average pooling). Linear head with trunc-normal std 0.02, label smoothing 0.1, Mixup 0.8 / CutMix 1.0 (timm's
``Mixup(switch_prob=0.5)``: one of the two per batch). Leaves set the size (``arch``, ``head.in_channels``) and the
drop path.
"""

_base_ = ['./weights.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='convnext.ConvNeXt', arch='tiny', out_indices=-1, out_type='avg', layer_scale_init_value=1e-6),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
    ),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
