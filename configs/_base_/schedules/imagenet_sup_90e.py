"""Supervised ImageNet-22K pre-training from random initialisation, 90 epochs (ConvNeXt appendix Table 5, 22K column).

AdamW lr 4e-3 (the table's lr: ConvNeXt ``main.py`` uses it as given), betas (0.9, 0.999), weight decay 0.05, not on
1-D parameters, biases, layer scale nor the 4-D GRN gamma/beta (ConvNeXt ``get_parameter_groups`` plus the
ConvNeXt-V2 GRN rule); 5 linear warm-up epochs, then cosine per iteration to 1e-6; no EMA; no gradient clipping;
batch 4096. The 300-epoch ImageNet-1K recipe (``imagenet_sup_300e.py``) adds EMA and a longer warm-up.
"""

_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0, custom_keys={'.grn.': dict(decay_mult=0.0)}
    ),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', eta_min_ratio=1e-6 / 4e-3, by_epoch=True, begin=5, end=90, convert_to_iter_based=True
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
custom_hooks = []
auto_scale_lr = dict(base_batch_size=4096)
