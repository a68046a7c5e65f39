"""ImageNet-1K fine-tuning, 30 epochs (ConvNeXt appendix Table 6; ConvNeXt V2 appendix Table 13).

AdamW lr 5e-5 (V1: the table's lr; V2: base lr 2.5e-5 x 512 / 256, the same), weight decay 1e-8, layer-wise lr
decay (``convnext.LayerDecayOptimWrapperConstructor``; 0.8 with the 12-group rule of Table 6's ImageNet-22K column,
leaves set others), no warm-up, cosine per iteration to 1e-6 x each group's layer-decay scale (the official
``min_lr * lr_scale``), no EMA, batch 512.
"""

_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=1e-8, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(decay_rate=0.8, decay_type='group'),
)
param_scheduler = [
    dict(
        type='CosineAnnealingLR', eta_min_ratio=1e-6 / 5e-5, by_epoch=True, begin=0, end=30, convert_to_iter_based=True
    )
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
custom_hooks = []
auto_scale_lr = dict(base_batch_size=512)
