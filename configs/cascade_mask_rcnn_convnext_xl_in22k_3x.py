# Cascade Mask R-CNN 3x, backbone ConvNeXt-XL (ImageNet-22K supervised weights), official FB recipe:
# multi-scale 480-800 + crop, 36 epochs (steps 27/33), 4conv1fc GIoU heads, AdamW lr 1e-4,
# layer-wise decay 0.7 over 12 layers, drop path 0.8, fp32 (official: no fp16 for this size).
# Batch size 16 = 8 GPUs x 2 images (tools/dist_train.sh configs/cascade_mask_rcnn_convnext_xl_in22k_3x.py 8).
_base_ = ['./_base_/det_cascade_mask_rcnn_4conv1fc_giou.py', './_base_/det_convnext_ms_crop_3x.py']

pretrained = 'https://dl.fbaipublicfiles.com/convnext/convnext_xlarge_22k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext.ConvNeXt',
        arch='xlarge',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.8,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    type='OptimWrapper',
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=1e-4),
)
auto_scale_lr = dict(base_batch_size=16)
