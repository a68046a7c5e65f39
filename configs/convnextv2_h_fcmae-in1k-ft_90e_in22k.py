# ConvNeXt V2-H, ImageNet-22K intermediate fine-tuning (21841 classes) of the FCMAE
# ImageNet-1K pre-trained encoder, 224x224 (step 2 of FCMAE -> IN-22K -> IN-1K).
# Backbone: convnext.ConvNeXtV2 arch='huge', drop path 0.3, initialised from the official FCMAE
# checkpoint; new head with init scale 0.001.
# Schedule: 90 epochs, 5 linear warm-up + cosine, AdamW base lr 2.5e-4 (lr 4e-3 = 2.5e-4 x 4096 / 256), wd 0.05, layer decay 0.8 (per block),
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1, no EMA.
# The V2 tables give base lrs (lr = base lr x batch / 256, ConvNeXt-V2 main_finetune.py): the table's value is
# not the optimizer's lr.
# Batch: 4096 (64 GPUs x 64). Source: ConvNeXt V2 paper, appendix Table 12.

_base_ = ['_base_/models/fcmae_ft.py', '_base_/datasets/imagenet21k.py', '_base_/schedules/imagenet21k_ft_90e.py']
backbone = dict(arch='huge', drop_path_rate=0.3, init_cfg=dict(checkpoint={{_base_.weights.v2_huge_fcmae}}))
model = dict(backbone=backbone, head=dict(in_channels=2816, num_classes=21841))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, decay_type='single'))
train_dataloader = dict(batch_size=64)  # 64 GPUs x 64 = 4096
