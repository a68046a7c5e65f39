# FCMAE pretraining, backbone ConvNeXt V2-Femto, 800 epochs, batch 4096 (64 x 64 GPUs), ImageNet-1K.

_base_ = ['_base_/models/fcmae_convnextv2.py', '_base_/datasets/imagenet_fcmae.py', '_base_/schedules/fcmae_800e.py']
model = dict(backbone=dict(arch='femto'))
train_dataloader = dict(batch_size=64)  # 64 GPUs x 64 = 4096
