# Cascade Mask R-CNN 3x, backbone ConvNeXt-V2-Huge (FCMAE ImageNet-1K pre-training): the V1
# cascade recipe (multi-scale 480-800 + crop, 4conv1fc GIoU heads, 36 epochs, steps 27/33) with the V2
# optimiser: AdamW lr 1e-4, layer-wise decay 0.9 over 12 layers, drop path 0.5, fp32 (like the official V1 L/XL
# COCO configs).
# Not released officially. Batch size 16 = 8 GPUs x 2 images.

_base_ = ['_base_/models/cascade_mask_rcnn_convnextv2.py', '_base_/datasets/coco_ms.py', '_base_/schedules/coco_3x.py']
backbone = dict(arch='huge', drop_path_rate=0.5, init_cfg=dict(checkpoint={{_base_.weights.v2_huge_fcmae}}))
model = dict(backbone=backbone, neck=dict(in_channels=[352, 704, 1408, 2816]))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.9, num_layers=12))
