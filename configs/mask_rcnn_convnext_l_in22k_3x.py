# Mask R-CNN 3x, backbone ConvNeXt-L (ImageNet-22K supervised weights), FB recipe (not released officially: drop path from the cascade table, T decay):
# multi-scale 480-800 + crop, 36 epochs (steps 27/33), AdamW lr 1e-4, layer-wise decay 0.95 over
# 12 layers, drop path 0.7, fp32 (like every official L/XL COCO and ADE20K
# config; fp16 until this fix). Batch size 16 = 8 GPUs x 2 images.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './_base_/det_convnext_ms_crop_3x.py']

pretrained = 'https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext.ConvNeXt',
        arch='large',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.7,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    neck=dict(in_channels=[192, 384, 768, 1536]),
)

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    type='OptimWrapper',  # fp32, as every official L/XL detection and segmentation run
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=1e-4),
)
auto_scale_lr = dict(base_batch_size=16)
