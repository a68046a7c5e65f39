"""ImageNet-1K fine-tuning of FCMAE weights, ConvNeXt V2-A/F/P/N recipe (ConvNeXt V2 appendix Table 9): base lr
2e-4 (lr = 2e-4 x 1024 / 256), per-block decay 0.9, no warm-up, 600 epochs; the rest as ``fcmae_ft_300e.py``. The
weight decay differs by size (A, P and N 0.3, set in their leaves; F the 0.05 of ``fcmae_ft_300e.py``)."""

_base_ = ['./fcmae_ft_300e.py']

lr = 2e-4 * 1024 / 256
train_cfg = dict(max_epochs=600)
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True, begin=0, end=600, convert_to_iter_based=True)
]
optim_wrapper = dict(optimizer=dict(lr=lr))
