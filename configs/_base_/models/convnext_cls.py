"""ImageNet classifier, ConvNeXt V1 backbone (layer scale 1e-6), trained from random initialisation (ConvNeXt
appendix Table 5): head init std 0.02, label smoothing 0.1, Mixup 0.8 / CutMix 1.0 (timm's ``Mixup(switch_prob=0.5)``:
one of the two per batch)."""

_base_ = ['./classifier.py']

model = dict(
    backbone=dict(type='convnext.ConvNeXt', layer_scale_init_value=1e-6),
    head=dict(loss=dict(label_smooth_val=0.1), init_cfg=dict(std=0.02)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
