"""ImageNet-1K fine-tuning of FCMAE weights, ConvNeXt V2-T recipe (ConvNeXt V2 appendix Table 10; ConvNeXt-V2
``main_finetune.py``), the base of the other model sizes' recipes (Tables 9 and 11).

AdamW base lr 8e-4: lr = 8e-4 x 1024 / 256, weight decay 0.05, per-block (``single``) layer-wise lr decay 0.9,
40 linear warm-up epochs, cosine per iteration to 1e-6 x each group's layer-decay scale (the official
``min_lr * lr_scale``), 300 epochs, EMA 0.9999, AMP (``tools/train.py`` turns it off without CUDA), batch 1024.
"""

_base_ = ['mmpretrain::_base_/default_runtime.py']

lr = 8e-4 * 1024 / 256
optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='single'),
)
auto_scale_lr = dict(base_batch_size=1024)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', eta_min_ratio=1e-6 / lr, by_epoch=True, begin=40, end=300, convert_to_iter_based=True
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]  # EMA decay 0.9999
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
