# ConvNeXt V2-L, supervised on ImageNet-1K from scratch, 224x224 (V2 paper Table 14 baseline).
# Backbone: convnext.ConvNeXtV2 arch='large' (GRN, no layer scale), drop path 0.5 (V1's for this size:
# the V2 paper gives no supervised table; it uses the 300-epoch recipe of the ConvNeXt paper).
# Schedule: 300 epochs, 20 linear warm-up + cosine, AdamW lr 4e-3, wd 0.05 (none on GRN), EMA 0.9999,
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1, head init 1.0.
# Batch: 4096 (64 GPUs x 64). Source: ConvNeXt paper, appendix Table 5.

_base_ = ['_base_/models/convnextv2_cls.py', '_base_/datasets/imagenet.py', '_base_/schedules/imagenet_sup_300e.py']
model = dict(backbone=dict(arch='large', drop_path_rate=0.5), head=dict(in_channels=1536))
train_dataloader = dict(batch_size=64)  # 64 GPUs x 64 = 4096
