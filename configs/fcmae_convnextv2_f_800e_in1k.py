# FCMAE pretraining, backbone ConvNeXt V2-Femto, 800 epochs, batch 4096 (64 x 64 GPUs), ImageNet-1K.
_base_ = ['./_base_/fcmae_pretrain_in1k.py']

model = dict(backbone=dict(arch='femto'))
