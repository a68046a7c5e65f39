"""Supervised ImageNet-22K pre-training, 90 epochs (ConvNeXt appendix Table 5, 22K column): the 300-epoch recipe
with 5 warm-up epochs and no EMA."""

_base_ = ['./imagenet_sup_300e.py']

custom_hooks = []
train_cfg = dict(max_epochs=90)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', eta_min_ratio=1e-6 / 4e-3, by_epoch=True, begin=5, end=90, convert_to_iter_based=True
    ),
]
