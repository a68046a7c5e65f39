# ImageNet-1K fine-tuning from FCMAE, backbone ConvNeXt V2-Large, 100 epochs (20 warm-up), batch 1024 (32 x 32 GPUs).
# Layer decay 'group' 0.6, drop path 0.2, label smoothing 0.1, mixup 0.8 / cutmix 1.0, weight decay 0.05, EMA 0.9999.
# Base lr 6.25e-4: the facebookresearch/ConvNeXt-V2 TRAINING.md value (the appendix table's 6.25e-3 is off by 10x;
# 6.25e-4 x 4 = 2.5e-3 is also mmpretrain's V2-B lr). Minimum lr 1e-6 x each group's layer-decay scale
# (ConvNeXt-V2 min_lr x lr_scale; previously an absolute 1e-6). Source: ConvNeXt V2 appendix Table 11.
_base_ = ['./_base_/fcmae_finetune_in1k.py']

pretrained = 'work_dirs/fcmae_convnextv2_l_800e_in1k/backbone.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(in_channels=1536, loss=dict(label_smooth_val=0.1)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
optim_wrapper = dict(
    optimizer=dict(lr=0.000625 * 1024 / 256, weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.6, decay_type='group'),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=80,
        eta_min_ratio=1e-6 / (0.000625 * 1024 / 256),
        by_epoch=True,
        begin=20,
        end=100,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=100)
