"""ImageNet classifier, ConvNeXt V2-A/F/P/N, fine-tuned from FCMAE weights (ConvNeXt V2 appendix Table 9): the V2
fine-tuning classifier of ``convnextv2_ft.py`` with label smoothing 0.2 and Mixup / CutMix 0.3 (F and P; A and N set
theirs)."""

_base_ = ['./convnextv2_ft.py']

model = dict(
    head=dict(loss=dict(label_smooth_val=0.2)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.3), dict(type='CutMix', alpha=0.3)]),
)
