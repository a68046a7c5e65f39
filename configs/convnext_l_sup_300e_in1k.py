# ConvNeXt-L (V1), supervised on ImageNet-1K from scratch, 224x224.
# Backbone: convnext.ConvNeXt arch='large', drop path 0.5, layer scale 1e-6.
# Schedule: 300 epochs, 20 linear warm-up + cosine, AdamW lr 4e-3, wd 0.05, EMA 0.9999,
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1.
# Batch: 4096 (64 GPUs x 64). Source: ConvNeXt paper, appendix Table 5.

_base_ = ['_base_/models/convnext_cls.py', '_base_/datasets/imagenet.py', '_base_/schedules/imagenet_sup_300e.py']
model = dict(backbone=dict(arch='large', drop_path_rate=0.5), head=dict(in_channels=1536))
train_dataloader = dict(batch_size=64)  # 64 GPUs x 64 = 4096
