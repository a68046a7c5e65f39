# ImageNet-1K fine-tuning from FCMAE, backbone ConvNeXt V2-Large, 100 epochs (20 warm-up), batch 1024 (32 x 32 GPUs).
# Layer decay 'group' 0.6, drop path 0.2, label smoothing 0.1, mixup 0.8 / cutmix 1.0, weight decay 0.05, EMA 0.9999.
# Base lr 6.25e-4: the facebookresearch/ConvNeXt-V2 TRAINING.md value (the appendix table's 6.25e-3 is off by 10x;
# 6.25e-4 x 4 = 2.5e-3 is also mmpretrain's V2-B lr). Minimum lr 1e-6 x each group's layer-decay scale
# (ConvNeXt-V2 min_lr x lr_scale). Source: ConvNeXt V2 appendix Table 11.

_base_ = ['_base_/models/fcmae_ft.py', '_base_/datasets/imagenet.py', '_base_/schedules/fcmae_ft_100e.py']
backbone = dict(arch='large', drop_path_rate=0.2, init_cfg=dict(checkpoint={{_base_.weights.v2_large_fcmae_800e}}))
model = dict(backbone=backbone, head=dict(in_channels=1536))
train_dataloader = dict(batch_size=32)  # 32 GPUs x 32 = 1024
