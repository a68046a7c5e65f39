# ConvNeXt V2-T, supervised on ImageNet-1K from scratch, 224x224 (V2 paper Table 14 baseline).
# Backbone: convnext.ConvNeXtV2 arch='tiny' (GRN, no layer scale), drop path 0.1 (V1's for this size:
# the V2 paper gives no supervised table; it uses the 300-epoch recipe of the ConvNeXt paper).
# Schedule: 300 epochs, 20 linear warm-up + cosine, AdamW lr 4e-3, wd 0.05 (none on GRN), EMA 0.9999,
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1, head init 1.0.
# Batch: 4096 (32 GPUs x 128). Source: ConvNeXt paper, appendix Table 5.
_base_ = [
    './_base_/cls_recipe_convnext_sup.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        type='convnext.ConvNeXtV2',
        arch='tiny',
        drop_path_rate=0.1,
        layer_scale_init_value=0.0,
    ),
    head=dict(in_channels=768, num_classes=1000),
)

# Batch 4096 = 32 GPUs x 128.
train_dataloader = dict(batch_size=128)
auto_scale_lr = dict(base_batch_size=4096)

optim_wrapper = dict(optimizer=dict(lr=4e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / 4e-3,  # official min_lr 1e-6
        by_epoch=True,
        begin=20,
        end=300,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]  # EMA 0.9999
