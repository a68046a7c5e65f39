"""COCO instances with the training augmentation of the official ConvNeXt COCO configs (Swin's): multi-scale
480-800 (long side 1333) or, with probability 0.5, resize-crop-resize (DETR's crop policy), and horizontal flip; 2 images
per GPU (the recipes' batch 16 on 8 GPUs)."""

_base_ = ['mmdet::_base_/datasets/coco_instance.py']

# Short sides 480, 512, ..., 800 with the long side at most 1333.
ms_scales = [(short, 1333) for short in range(480, 801, 32)]
crop_policy = [
    dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)], keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
    dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True),
]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[[dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True)], crop_policy],
    ),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
