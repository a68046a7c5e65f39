# ConvNeXt-L (V1), supervised pre-training on ImageNet-22K (21841 classes), 224x224.
# Backbone: convnext.ConvNeXt arch='large', drop path 0.1, layer scale 1e-6.
# Schedule: 90 epochs, 5 linear warm-up + cosine, AdamW lr 4e-3, wd 0.05, no EMA,
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1.
# Batch: 4096 (128 GPUs x 32). Source: ConvNeXt paper, appendix Table 5 (22K column).

_base_ = ['_base_/models/convnext_cls.py', '_base_/datasets/imagenet21k.py', '_base_/schedules/imagenet_sup_90e.py']
model = dict(backbone=dict(arch='large', drop_path_rate=0.1), head=dict(in_channels=1536, num_classes=21841))
train_dataloader = dict(batch_size=32)  # 128 GPUs x 32 = 4096
