# ImageNet-1K fine-tuning from FCMAE, backbone ConvNeXt V2-Atto, 600 epochs (0 warm-up), batch 1024 (32 x 32 GPUs).
# Layer decay 'single' 0.9, drop path 0.1, label smoothing 0.2, mixup 0.0 / cutmix 0.0, weight decay 0.3, EMA 0.9999.
# Minimum lr 1e-6 x each group's layer-decay scale (ConvNeXt-V2 min_lr x lr_scale).
# Source: ConvNeXt V2 appendix Table 9.

_base_ = ['_base_/models/fcmae_ft_afpn.py', '_base_/datasets/imagenet.py', '_base_/schedules/fcmae_ft_600e.py']
backbone = dict(arch='atto', drop_path_rate=0.1, init_cfg=dict(checkpoint={{_base_.weights.v2_atto_fcmae_800e}}))
model = dict(backbone=backbone, head=dict(in_channels=320), train_cfg=None)
train_dataloader = dict(batch_size=32)  # 32 GPUs x 32 = 1024
optim_wrapper = dict(optimizer=dict(weight_decay=0.3))
