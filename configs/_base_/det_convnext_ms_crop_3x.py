# Shared by the ConvNeXt V1 COCO configs (official FB recipe, mmdet 3.x layout):
# multi-scale 480-800 training with the DETR crop policy, AdamW with layer-wise lr
# decay, 3x schedule (36 epochs, steps 27/33), fp16. The model file comes from the leaf.
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

# Short sides 480, 512, ..., 800 with the long side at most 1333.
ms_scales = [(short, 1333) for short in range(480, 801, 32)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)], keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True),
            ],
        ],
    ),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
]

# lr, decay_rate and num_layers are set by every leaf (ConvNeXt object_detection/configs/convnext/*.py).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=12),
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
)
# 8 GPUs x 2 images.
auto_scale_lr = dict(enable=False, base_batch_size=16)
