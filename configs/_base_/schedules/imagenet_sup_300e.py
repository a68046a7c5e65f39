"""Supervised ImageNet-1K training from random initialisation, 300 epochs (ConvNeXt appendix Table 5).

AdamW lr 4e-3 (the table's lr: ConvNeXt ``main.py`` uses it as given), betas (0.9, 0.999), weight decay 0.05, not on
1-D parameters, biases, layer scale nor the 4-D GRN gamma/beta (ConvNeXt ``get_parameter_groups`` plus the
ConvNeXt-V2 GRN rule); 20 linear warm-up epochs, then cosine per iteration to 1e-6; EMA 0.9999; no gradient clipping;
batch 4096.
"""

_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0, custom_keys={'.grn.': dict(decay_mult=0.0)}
    ),
)
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
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
# EMA of the weights with decay 0.9999 per optimizer step (mmengine momentum = 1 - decay).
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=4096)
