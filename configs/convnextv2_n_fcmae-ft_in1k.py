# ImageNet-1K fine-tuning from FCMAE, backbone ConvNeXt V2-Nano, 600 epochs (0 warm-up), batch 1024 (32 x 32 GPUs).
# Layer decay 'single' 0.9, drop path 0.1, label smoothing 0.2, mixup 0.5 / cutmix 0.5, weight decay 0.3, EMA 0.9999.
# Minimum lr 1e-6 x each group's layer-decay scale (ConvNeXt-V2 min_lr x lr_scale).
# Source: ConvNeXt V2 appendix Table 9.

_base_ = ['_base_/models/fcmae_ft_afpn.py', '_base_/datasets/imagenet.py', '_base_/schedules/fcmae_ft_600e.py']
backbone = dict(arch='nano', drop_path_rate=0.1, init_cfg=dict(checkpoint={{_base_.weights.v2_nano_fcmae_800e}}))
mixup = [dict(type='Mixup', alpha=0.5), dict(type='CutMix', alpha=0.5)]
model = dict(backbone=backbone, head=dict(in_channels=640), train_cfg=dict(augments=mixup))
train_dataloader = dict(batch_size=32)  # 32 GPUs x 32 = 1024
optim_wrapper = dict(optimizer=dict(weight_decay=0.3))
