# ConvNeXt-B (V1), supervised on ImageNet-1K from scratch, 224x224.
# Backbone: convnext.ConvNeXt arch='base', drop path 0.5, layer scale 1e-6.
# Schedule: 300 epochs, 20 linear warm-up + cosine, AdamW lr 4e-3, wd 0.05, EMA 0.9999,
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1.
# Batch: 4096 (32 GPUs x 128). Source: ConvNeXt paper, appendix Table 5.
_base_ = [
    './_base_/cls_recipe_convnext_sup.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        type='convnext.ConvNeXt',
        arch='base',
        drop_path_rate=0.5,
        layer_scale_init_value=1e-6,
    ),
    head=dict(in_channels=1024, num_classes=1000),
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
