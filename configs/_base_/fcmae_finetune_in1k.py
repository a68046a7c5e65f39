# ImageNet-1K fine-tuning of a ConvNeXt V2 from its FCMAE weights (ConvNeXt V2 appendix A.2, fine-tuning
# tables; ConvNeXt-V2 main_finetune.py): AdamW, layer-wise lr decay (convnext.LayerDecayOptimWrapperConstructor),
# batch 1024 = 32 per GPU x 32 GPUs, RandAug (9, 0.5), random erasing 0.25, label smoothing, mixup/cutmix,
# EMA 0.9999, head init scale 0.001, AMP. Leaves set the arch, drop path, lr, weight decay, layer decay,
# smoothing, mixup/cutmix and the schedule per model size; this file holds the Tiny values.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

default_scope = 'mmpretrain'

# The backbone checkpoint written by tools/model_converters/fcmae_to_backbone.py from the FCMAE run.
pretrained = 'work_dirs/fcmae_convnextv2_t_800e_in1k/backbone.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='convnext.ConvNeXtV2',
        arch='tiny',
        out_type='avg',
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        # Head init scale 0.001: trunc_normal(std=.02) x 0.001 = trunc_normal(std=2e-5), bias 0 (facebookresearch/ConvNeXt-V2).
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02 * 0.001, bias=0.0),
    ),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

# 32 images per GPU x 32 GPUs = 1024.
train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader

# lr = base lr x 1024 / 256 (Tiny: 8e-4 x 4); tools/train.py turns AmpOptimWrapper into OptimWrapper on CPU.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=8e-4 * 1024 / 256, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='single'),
)
auto_scale_lr = dict(base_batch_size=1024)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=260,
        eta_min_ratio=1e-6 / (8e-4 * 1024 / 256),
        by_epoch=True,
        begin=40,
        end=300,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]  # EMA decay 0.9999
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
