"""ImageNet-1K for FCMAE pre-training: mmpretrain's ``imagenet_bs512_mae.py`` (RandomResizedCrop 224, scale
(0.2, 1.0), bicubic, horizontal flip; ConvNeXt-V2 ``main_pretrain.py``), 8 loader workers per GPU. Leaves set the
per-GPU batch."""

_base_ = ['mmpretrain::_base_/datasets/imagenet_bs512_mae.py']

train_dataloader = dict(num_workers=8)
