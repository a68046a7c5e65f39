# FCMAE pretraining of ConvNeXt V2 on ImageNet-1K (ConvNeXt V2 appendix, pre-training table;
# ConvNeXt-V2 main_pretrain.py): AdamW, base lr 1.5e-4 x batch / 256, betas (0.9, 0.95), weight decay 0.05
# (not on biases and 1-D parameters), batch 4096 = 64 per GPU x 64 GPUs, 40 warm-up epochs then cosine
# to 0, RandomResizedCrop 224 scale (0.2, 1) bicubic + horizontal flip, fp32 (the official run has no
# autocast). Leaves set the arch and the number of epochs.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    'mmpretrain::_base_/default_runtime.py',
]

default_scope = 'mmpretrain'

data_preprocessor = dict(
    type='mmpretrain.SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
model = dict(
    type='convnext.FCMAE',
    backbone=dict(type='convnext.ConvNeXtV2', arch='tiny'),
    decoder_embed_dim=512,
    decoder_depth=1,
    patch_size=32,
    mask_ratio=0.6,
    norm_pix_loss=True,
    backend='dense',
    data_preprocessor=data_preprocessor,
)

# 64 images per GPU x 64 GPUs = 4096.
train_dataloader = dict(batch_size=64, num_workers=8)

# lr = 1.5e-4 x 4096 / 256; auto_scale_lr rescales it to the real batch when enabled.
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
