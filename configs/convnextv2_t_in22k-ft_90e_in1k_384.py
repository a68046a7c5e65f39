# ConvNeXt V2-T, ImageNet-1K fine-tuning at 384x384 of the IN-22K intermediate fine-tuned
# model (step 3 of FCMAE -> IN-22K -> IN-1K).
# Backbone: convnext.ConvNeXtV2 arch='tiny', drop path 0.1, initialised from the last checkpoint of
# convnextv2_t_fcmae-in1k-ft_90e_in22k.py (the official 21841-class weights are not released);
# new head with init scale 0.001.
# Schedule: 90 epochs, no warm-up, cosine, AdamW base lr 2.5e-5 (lr 5e-5 = 2.5e-5 x 512 / 256), wd 1e-8, layer decay 0.9 (per block),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, EMA 0.9999;
# test: resize to 384x384, no crop.
# The V2 tables give base lrs (lr = base lr x batch / 256, ConvNeXt-V2 main_finetune.py); the lr was 2.5e-5 until
# this was fixed: 2x too low.
# Batch: 512 (32 GPUs x 16). Source: ConvNeXt V2 paper, appendix Table 13.
_base_ = [
    './_base_/cls_recipe_convnext_ft.py',
    './_base_/cls_data_in1k_384.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        type='convnext.ConvNeXtV2',
        arch='tiny',
        drop_path_rate=0.1,
        layer_scale_init_value=0.0,
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/convnextv2_t_fcmae-in1k-ft_90e_in22k/epoch_90.pth'),
    ),
    head=dict(in_channels=768, num_classes=1000),
)

# Batch 512 = 32 GPUs x 16.
train_dataloader = dict(batch_size=16)
auto_scale_lr = dict(base_batch_size=512)

optim_wrapper = dict(
    optimizer=dict(lr=2.5e-5 * 512 / 256, weight_decay=1e-8), paramwise_cfg=dict(decay_rate=0.9, decay_type='single')
)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / (2.5e-5 * 512 / 256),  # official min_lr 1e-6 (x each group's lr scale)
        by_epoch=True,
        begin=0,
        end=90,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]  # EMA 0.9999
