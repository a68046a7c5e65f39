# ConvNeXt-L (V1), ImageNet-22K pre-trained, fine-tuned on ImageNet-1K at 384x384.
# Backbone: convnext.ConvNeXt arch='large', drop path 0.3, initialised from the official
# IN-22K checkpoint (layer scale from the checkpoint); new head with init scale 0.001.
# Schedule: 30 epochs, no warm-up, cosine, AdamW lr 5e-5, wd 1e-8, layer decay 0.8 (12 groups),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, no EMA;
# test: resize to 384x384, no crop.
# Batch: 512 (32 GPUs x 16). Source: ConvNeXt paper, appendix Table 6; facebookresearch/ConvNeXt TRAINING.md.
_base_ = [
    './_base_/cls_recipe_convnext_ft.py',
    './_base_/cls_data_in1k_384.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        type='convnext.ConvNeXt',
        arch='large',
        drop_path_rate=0.3,
        layer_scale_init_value=1e-6,
        init_cfg=dict(
            type='Pretrained', checkpoint='https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'
        ),
    ),
    head=dict(in_channels=1536, num_classes=1000),
)

# Batch 512 = 32 GPUs x 16.
train_dataloader = dict(batch_size=16)
auto_scale_lr = dict(base_batch_size=512)

optim_wrapper = dict(optimizer=dict(lr=5e-5, weight_decay=1e-8), paramwise_cfg=dict(decay_rate=0.8, decay_type='group'))
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
