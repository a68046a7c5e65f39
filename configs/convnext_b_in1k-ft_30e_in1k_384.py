# ConvNeXt-B (V1), ImageNet-1K trained at 224, fine-tuned on ImageNet-1K at 384x384.
# Backbone: convnext.ConvNeXt arch='base', drop path 0.8, initialised from the official
# IN-1K checkpoint without EMA (appendix A.2: "without using the EMA weights"; the EMA file until this fix), its
# 1000-class head loaded too (ConvNeXt main.py drops the head only when its shape differs).
# Schedule: 30 epochs, no warm-up, cosine, AdamW lr 5e-5, wd 1e-8, layer decay 0.7 (12 groups),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, no EMA;
# test: resize to 384x384, no crop.
# Batch: 512 (16 GPUs x 32). Source: ConvNeXt paper, appendix Table 6; facebookresearch/ConvNeXt TRAINING.md.
_base_ = [
    './_base_/cls_recipe_convnext_ft.py',
    './_base_/cls_data_in1k_384.py',
    'mmpretrain::_base_/default_runtime.py',
]

checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224.pth'
model = dict(
    backbone=dict(
        type='convnext.ConvNeXt',
        arch='base',
        drop_path_rate=0.8,
        layer_scale_init_value=1e-6,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    head=dict(
        in_channels=1024,
        num_classes=1000,
        # The checkpoint's head when its shape fits (it does: 1000 classes), else a new one (init scale 0.001).
        init_cfg=dict(type='convnext.PretrainedHead', checkpoint=checkpoint, layer='Linear', std=2e-5, bias=0.0),
    ),
)

# Batch 512 = 16 GPUs x 32.
train_dataloader = dict(batch_size=32)
auto_scale_lr = dict(base_batch_size=512)

optim_wrapper = dict(optimizer=dict(lr=5e-5, weight_decay=1e-8), paramwise_cfg=dict(decay_rate=0.7, decay_type='group'))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / 5e-5,  # official min_lr 1e-6
        by_epoch=True,
        begin=0,
        end=30,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
custom_hooks = []  # no EMA
