"""ImageNet classifier, ConvNeXt V2 backbone (GRN, no layer scale), trained from random initialisation: the ConvNeXt V2
paper trains its supervised baselines (Table 14) with ConvNeXt's Table 5 recipe, so head init std 0.02, label
smoothing 0.1 and Mixup 0.8 / CutMix 1.0 as ``convnext_cls.py``."""

_base_ = ['./classifier.py']

model = dict(
    backbone=dict(type='convnext.ConvNeXtV2', layer_scale_init_value=0.0),
    head=dict(loss=dict(label_smooth_val=0.1), init_cfg=dict(std=0.02)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
