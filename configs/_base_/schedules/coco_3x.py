"""The 3x COCO schedule of the official ConvNeXt detection configs: 36 epochs, lr x 0.1 after epochs 27 and 33,
500 linear warm-up iterations from 0.001 (ConvNeXt ``object_detection/configs/convnext/*_3x_coco_*.py`` set only
``lr_config = dict(step=[27, 33])`` and inherit the warm-up of mmdet 2.x ``configs/_base_/schedules/schedule_1x.py``:
``warmup='linear', warmup_iters=500, warmup_ratio=0.001``); AdamW (betas 0.9/0.999, weight decay 0.05) with layer-wise lr decay
(``convnext.LayerDecayOptimWrapperConstructor``, ``layer_wise``; leaves set lr, decay rate and ``num_layers``: 6 for
T, 12 for the 27-block sizes); fp16 (``AmpOptimWrapper``; ``tools/train.py`` turns it off without CUDA; L/XL/H
leaves train in fp32, as the official L/XL runs); batch 16 = 8 GPUs x 2 images."""

_base_ = ['mmdet::_base_/schedules/schedule_1x.py', 'mmdet::_base_/default_runtime.py']

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=12),
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
)
auto_scale_lr = dict(enable=False, base_batch_size=16)
