# ConvNeXt-S (V1), ImageNet-22K pre-trained, fine-tuned on ImageNet-1K at 384x384.
# Backbone: convnext.ConvNeXt arch='small', drop path 0.1, initialised from the official
# IN-22K checkpoint (layer scale from the checkpoint); new head with init scale 0.001.
# Schedule: 30 epochs, no warm-up, cosine, AdamW lr 5e-5, wd 1e-8, layer decay 0.8 (12 groups),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, no EMA;
# test: resize to 384x384, no crop.
# Batch: 512 (32 GPUs x 16). Source: ConvNeXt paper, appendix Table 6; facebookresearch/ConvNeXt TRAINING.md.

_base_ = ['_base_/models/convnext_ft.py', '_base_/datasets/imagenet_384.py', '_base_/schedules/imagenet_ft_30e.py']
backbone = dict(arch='small', drop_path_rate=0.1, init_cfg=dict(checkpoint={{_base_.weights.small_22k}}))
model = dict(backbone=backbone, head=dict(in_channels=768))
train_dataloader = dict(batch_size=16)  # 32 GPUs x 16 = 512
