"""FCMAE pre-training, 1600 epochs (ConvNeXt V2 appendix Table 8; ConvNeXt-V2 TRAINING.md pre-trains V2-B this
long): the 800-epoch schedule, longer."""

_base_ = ['./fcmae_800e.py']

train_cfg = dict(max_epochs=1600)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', T_max=1560, eta_min=0.0, by_epoch=True, begin=40, end=1600, convert_to_iter_based=True
    ),
]
