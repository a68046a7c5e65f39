"""ImageNet-22K intermediate fine-tuning of FCMAE weights, 90 epochs (ConvNeXt V2 appendix Table 12).

AdamW base lr 2.5e-4: lr = 2.5e-4 x 4096 / 256 = 4e-3 (the V2 tables give base lrs, ConvNeXt-V2
``main_finetune.py``), weight decay 0.05, layer-wise lr decay (leaves set rate and rule), 5 linear warm-up epochs,
cosine per iteration to 1e-6 x each group's layer-decay scale, no EMA, batch 4096.
"""

_base_ = ['mmpretrain::_base_/default_runtime.py']

lr = 2.5e-4 * 4096 / 256
optim_wrapper = dict(
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(decay_rate=0.8, decay_type='group'),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True, begin=5, end=90, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
custom_hooks = []
auto_scale_lr = dict(base_batch_size=4096)
