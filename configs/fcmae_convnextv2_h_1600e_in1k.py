# FCMAE pretraining, backbone ConvNeXt V2-Huge, 1600 epochs (40 warm-up), batch 4096 (64 x 64 GPUs), ImageNet-1K.
# The 800-epoch recipe's model and data on the 1600-epoch schedule (ConvNeXt V2 appendix Table 8).

_base_ = ['_base_/models/fcmae_convnextv2.py', '_base_/datasets/imagenet_fcmae.py', '_base_/schedules/fcmae_1600e.py']
model = dict(backbone=dict(arch='huge'))
train_dataloader = dict(batch_size=64)  # 64 GPUs x 64 = 4096
