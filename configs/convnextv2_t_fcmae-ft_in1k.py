# ImageNet-1K fine-tuning from FCMAE, backbone ConvNeXt V2-Tiny, 300 epochs (40 warm-up), batch 1024 (32 x 32 GPUs).
# Layer decay 'single' 0.9, drop path 0.2, label smoothing 0.1, mixup 0.8 / cutmix 1.0, weight decay 0.05, EMA 0.9999.
# Minimum lr 1e-6 x each group's layer-decay scale (ConvNeXt-V2 min_lr x lr_scale).
# Source: ConvNeXt V2 appendix Table 10.

_base_ = ['_base_/models/fcmae_ft.py', '_base_/datasets/imagenet.py', '_base_/schedules/fcmae_ft_300e.py']
backbone = dict(arch='tiny', drop_path_rate=0.2, init_cfg=dict(checkpoint={{_base_.weights.v2_tiny_fcmae_800e}}))
model = dict(backbone=backbone, head=dict(in_channels=768))
train_dataloader = dict(batch_size=32)  # 32 GPUs x 32 = 1024
