# ConvNeXt-S (V1), supervised pre-training on ImageNet-22K (21841 classes), 224x224.
# Backbone: convnext.ConvNeXt arch='small', drop path 0.0, layer scale 1e-6.
# Schedule: 90 epochs, 5 linear warm-up + cosine, AdamW lr 4e-3, wd 0.05, no EMA,
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1.
# Batch: 4096 (128 GPUs x 32). Source: ConvNeXt paper, appendix Table 5 (22K column).
_base_ = [
    './_base_/cls_recipe_convnext_sup.py',
    './_base_/cls_data_in22k_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        type='convnext.ConvNeXt',
        arch='small',
        drop_path_rate=0.0,
        layer_scale_init_value=1e-6,
    ),
    head=dict(in_channels=768, num_classes=21841),
)

# Batch 4096 = 128 GPUs x 32.
train_dataloader = dict(batch_size=32)
auto_scale_lr = dict(base_batch_size=4096)

optim_wrapper = dict(optimizer=dict(lr=4e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / 4e-3,  # official min_lr 1e-6
        by_epoch=True,
        begin=5,
        end=90,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
# No validation set (official: --disable_eval true).
val_cfg = None
test_cfg = None
custom_hooks = []  # no EMA for ImageNet-22K pre-training
