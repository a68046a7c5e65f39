# ConvNeXt V2-H, ImageNet-22K intermediate fine-tuning (21841 classes) of the FCMAE
# ImageNet-1K pre-trained encoder, 224x224 (step 2 of FCMAE -> IN-22K -> IN-1K).
# Backbone: convnext.ConvNeXtV2 arch='huge', drop path 0.3, initialised from the official FCMAE
# checkpoint; new head with init scale 0.001.
# Schedule: 90 epochs, 5 linear warm-up + cosine, AdamW base lr 2.5e-4 (lr 4e-3 = 2.5e-4 x 4096 / 256), wd 0.05, layer decay 0.8 (per block),
# RandAugment (9, 0.5), Mixup 0.8 / CutMix 1.0, random erasing 0.25, label smoothing 0.1, no EMA.
# The V2 tables give base lrs (lr = base lr x batch / 256, ConvNeXt-V2 main_finetune.py); the lr was 2.5e-4 until
# this was fixed: 16x too low.
# Batch: 4096 (64 GPUs x 64). Source: ConvNeXt V2 paper, appendix Table 12.
_base_ = [
    './_base_/cls_recipe_convnext_ft.py',
    './_base_/cls_data_in22k_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        type='convnext.ConvNeXtV2',
        arch='huge',
        drop_path_rate=0.3,
        layer_scale_init_value=0.0,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_huge_1k_224_fcmae.pt',
        ),
    ),
    head=dict(in_channels=2816, num_classes=21841),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

# Batch 4096 = 64 GPUs x 64.
train_dataloader = dict(batch_size=64)
auto_scale_lr = dict(base_batch_size=4096)

optim_wrapper = dict(
    optimizer=dict(lr=2.5e-4 * 4096 / 256, weight_decay=0.05), paramwise_cfg=dict(decay_rate=0.8, decay_type='single')
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / (2.5e-4 * 4096 / 256),  # official min_lr 1e-6 (x each group's lr scale)
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
custom_hooks = []  # no EMA
