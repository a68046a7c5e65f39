# Mask R-CNN 3x, backbone ConvNeXt-L (ImageNet-22K supervised weights), FB recipe (not released officially: drop path from the cascade table, T decay):
# multi-scale 480-800 + crop, 36 epochs (steps 27/33), AdamW lr 1e-4, layer-wise decay 0.95 over
# 12 layers, drop path 0.7, fp32 (like every official L/XL COCO and ADE20K
# config). Batch size 16 = 8 GPUs x 2 images.

_base_ = ['_base_/models/mask_rcnn_convnext.py', '_base_/datasets/coco_ms.py', '_base_/schedules/coco_3x.py']
backbone = dict(arch='large', drop_path_rate=0.7, init_cfg=dict(checkpoint={{_base_.weights.large_22k}}))
model = dict(backbone=backbone, neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.95, num_layers=12))
