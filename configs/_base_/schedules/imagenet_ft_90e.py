"""ImageNet-1K fine-tuning of the ImageNet-22K ConvNeXt V2-N/T, 90 epochs (ConvNeXt V2 appendix Table 13): the 30-epoch
recipe (lr 5e-5 = base lr 2.5e-5 x 512 / 256) with per-block (``single``) decay 0.9 and EMA 0.9999."""

_base_ = ['./imagenet_ft_30e.py']

optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, decay_type='single'))
param_scheduler = [
    dict(
        type='CosineAnnealingLR', eta_min_ratio=1e-6 / 5e-5, by_epoch=True, begin=0, end=90, convert_to_iter_based=True
    )
]
train_cfg = dict(max_epochs=90)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]  # EMA 0.9999
