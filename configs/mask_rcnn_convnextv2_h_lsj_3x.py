# Mask R-CNN 3x, backbone ConvNeXt-V2-Huge (FCMAE ImageNet-1K pre-training), V2 paper
# recipe (appendix A.3): large-scale jitter 1024 (scale 0.1-2.0), 36 epochs (steps 27/33), AdamW
# lr 1e-4 wd 0.05, layer-wise decay 0.9 over 12 layers, drop path 0.5 (picked from the paper's
# sweeps), fp32 (like the official V1 L/XL COCO configs),
# soft-NMS single-scale test. Batch size 32 = 8 GPUs x 4 images.

_base_ = ['_base_/models/mask_rcnn_convnextv2.py', '_base_/datasets/coco_lsj.py', '_base_/schedules/coco_3x_lsj.py']
backbone = dict(arch='huge', drop_path_rate=0.5, init_cfg=dict(checkpoint={{_base_.weights.v2_huge_fcmae}}))
model = dict(backbone=backbone, neck=dict(in_channels=[352, 704, 1408, 2816]))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.9, num_layers=12))
