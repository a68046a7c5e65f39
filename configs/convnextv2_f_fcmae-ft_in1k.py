# ImageNet-1K fine-tuning from FCMAE, backbone ConvNeXt V2-Femto, 600 epochs (0 warm-up), batch 1024 (32 x 32 GPUs).
# Layer decay 'single' 0.9, drop path 0.0, label smoothing 0.2, mixup 0.3 / cutmix 0.3, weight decay 0.05, EMA 0.9999.
# Minimum lr 1e-6 x each group's layer-decay scale (ConvNeXt-V2 min_lr x lr_scale; previously an absolute 1e-6).
# Source: ConvNeXt V2 appendix Table 9.
_base_ = ['./_base_/fcmae_finetune_in1k.py']

pretrained = 'work_dirs/fcmae_convnextv2_f_800e_in1k/backbone.pth'
model = dict(
    backbone=dict(arch='femto', drop_path_rate=0.0, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(in_channels=384, loss=dict(label_smooth_val=0.2)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.3), dict(type='CutMix', alpha=0.3)]),
)
optim_wrapper = dict(
    optimizer=dict(lr=0.0002 * 1024 / 256, weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='single'),
)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=600,
        eta_min_ratio=1e-6 / (0.0002 * 1024 / 256),
        by_epoch=True,
        begin=0,
        end=600,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=600)
