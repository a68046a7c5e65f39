# Cascade Mask R-CNN 3x, backbone ConvNeXt-S (ImageNet-1K supervised weights), official FB recipe:
# multi-scale 480-800 + crop, 36 epochs (steps 27/33), 4conv1fc GIoU heads, AdamW lr 2e-4,
# layer-wise decay 0.7 over 12 layers, drop path 0.6, fp16 (AMP on CUDA).
# Batch size 16 = 8 GPUs x 2 images (tools/dist_train.sh configs/cascade_mask_rcnn_convnext_s_3x.py 8).
_base_ = ['./_base_/det_cascade_mask_rcnn_4conv1fc_giou.py', './_base_/det_convnext_ms_crop_3x.py']

pretrained = 'https://dl.fbaipublicfiles.com/convnext/convnext_small_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext.ConvNeXt',
        arch='small',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.6,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    neck=dict(in_channels=[96, 192, 384, 768]),
)

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=2e-4),
)
auto_scale_lr = dict(base_batch_size=16)
