"""ImageNet-1K at 224x224: mmpretrain's ``imagenet_bs64_swin_224.py`` (RandomResizedCrop 224 bicubic, flip,
RandAugment (9, 0.5) ``timm_increasing``, random erasing 0.25; test: resize 256, centre crop 224, crop ratio 0.875),
the ImageNet pipeline of the ConvNeXt papers. Leaves set the per-GPU batch."""

_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py']

val_cfg = dict()
test_cfg = dict()
