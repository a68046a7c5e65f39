"""ImageNet-1K fine-tuning of FCMAE weights, ConvNeXt V2-H recipe (ConvNeXt V2 appendix Table 11): base lr
1.25e-3 (lr = 1.25e-3 x 1024 / 256, the table's value: no released command exists for H), per-block (``single``)
decay 0.75 (the appendix applies group-wise decay to Base and Large only), 10 warm-up epochs, 50 epochs; the rest
as ``fcmae_ft_300e.py``."""

_base_ = ['./fcmae_ft_300e.py']

lr = 1.25e-3 * 1024 / 256
train_cfg = dict(max_epochs=50)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True, begin=10, end=50, convert_to_iter_based=True
    ),
]
optim_wrapper = dict(optimizer=dict(lr=lr), paramwise_cfg=dict(decay_rate=0.75))
