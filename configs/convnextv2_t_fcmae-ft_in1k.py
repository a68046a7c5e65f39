# ImageNet-1K fine-tuning from FCMAE, backbone ConvNeXt V2-Tiny, 300 epochs (40 warm-up), batch 1024 (32 x 32 GPUs).
# Layer decay 'single' 0.9, drop path 0.2, label smoothing 0.1, mixup 0.8 / cutmix 1.0, weight decay 0.05, EMA 0.9999.
# Minimum lr 1e-6 x each group's layer-decay scale (ConvNeXt-V2 min_lr x lr_scale; previously an absolute 1e-6).
# Source: ConvNeXt V2 appendix Table 10.
_base_ = ['./_base_/fcmae_finetune_in1k.py']

pretrained = 'work_dirs/fcmae_convnextv2_t_800e_in1k/backbone.pth'
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.2, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(in_channels=768, loss=dict(label_smooth_val=0.1)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
optim_wrapper = dict(
    optimizer=dict(lr=0.0008 * 1024 / 256, weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='single'),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=260,
        eta_min_ratio=1e-6 / (0.0008 * 1024 / 256),
        by_epoch=True,
        begin=40,
        end=300,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=300)
