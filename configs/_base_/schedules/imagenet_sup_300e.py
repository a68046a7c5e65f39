"""Supervised ImageNet-1K training from random initialisation, 300 epochs (ConvNeXt appendix Table 5): the optimizer,
weight decay rules and batch 4096 of ``imagenet_sup_90e.py`` with 20 linear warm-up epochs, then cosine per iteration
to 1e-6, and EMA 0.9999."""

_base_ = ['./imagenet_sup_90e.py']

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / 4e-3,
        by_epoch=True,
        begin=20,
        end=300,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=300)
# EMA of the weights with decay 0.9999 per optimizer step (mmengine momentum = 1 - decay).
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
