"""FCMAE pre-training, 800 epochs (ConvNeXt V2 appendix Table 8; ConvNeXt-V2 ``main_pretrain.py``).

AdamW base lr 1.5e-4: lr = 1.5e-4 x 4096 / 256, betas (0.9, 0.95), weight decay 0.05 except on biases and 1-D
parameters (timm's ``add_weight_decay``: GRN and the mask token are decayed), 40 linear warm-up epochs, then cosine
per iteration to 0; fp32 (the official run has no autocast); batch 4096.
"""

_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(bias_decay_mult=0.0, flat_decay_mult=0.0),
)
auto_scale_lr = dict(base_batch_size=4096)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', T_max=760, eta_min=0.0, by_epoch=True, begin=40, end=800, convert_to_iter_based=True
    ),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=800)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
)
randomness = dict(seed=0, diff_rank_seed=True)
