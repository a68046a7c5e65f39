# ConvNeXt-B (V1), ImageNet-1K trained at 224, fine-tuned on ImageNet-1K at 384x384.
# Backbone: convnext.ConvNeXt arch='base', drop path 0.8, initialised from the official
# IN-1K checkpoint without EMA (appendix A.2: "without using the EMA weights"), its
# 1000-class head loaded too (ConvNeXt main.py drops the head only when its shape differs).
# Schedule: 30 epochs, no warm-up, cosine, AdamW lr 5e-5, wd 1e-8, layer decay 0.7 (12 groups),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, no EMA;
# test: resize to 384x384, no crop.
# Batch: 512 (16 GPUs x 32). Source: ConvNeXt paper, appendix Table 6; facebookresearch/ConvNeXt TRAINING.md.

_base_ = ['_base_/models/convnext_ft.py', '_base_/datasets/imagenet_384.py', '_base_/schedules/imagenet_ft_30e.py']
url = {{_base_.weights.base_1k}}
backbone = dict(arch='base', drop_path_rate=0.8, init_cfg=dict(checkpoint=url))
model = dict(
    backbone=backbone, head=dict(in_channels=1024, init_cfg=dict(type='convnext.PretrainedHead', checkpoint=url))
)
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.7))
train_dataloader = dict(batch_size=32)  # 16 GPUs x 32 = 512
