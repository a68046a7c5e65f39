"""ImageNet-1K fine-tuning of FCMAE weights, ConvNeXt V2-B/L recipe (ConvNeXt V2 appendix Table 11): base lr
6.25e-4 (lr = 6.25e-4 x 1024 / 256; the table prints 6.25e-3, the released ConvNeXt-V2 TRAINING.md uses 6.25e-4,
and 2.5e-3 is also mmpretrain's V2-B lr), group-wise decay 0.6 (the appendix applies it to Base and Large), 20
warm-up epochs, 100 epochs; the rest as ``fcmae_ft_300e.py``."""

_base_ = ['./fcmae_ft_300e.py']

lr = 6.25e-4 * 1024 / 256
optim_wrapper = dict(optimizer=dict(lr=lr), paramwise_cfg=dict(decay_rate=0.6, decay_type='group'))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True, begin=20, end=100, convert_to_iter_based=True
    ),
]
train_cfg = dict(max_epochs=100)
