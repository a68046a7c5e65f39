# Mask R-CNN 3x, backbone ConvNeXt-V2-Atto (FCMAE ImageNet-1K pre-training), V2 paper
# recipe (appendix A.3): large-scale jitter 1024 (scale 0.1-2.0), 36 epochs (steps 27/33), AdamW
# lr 1e-4 wd 0.05, layer-wise decay 0.95 over 6 layers, drop path 0.2 (picked from the paper's
# sweeps), fp16 (AMP on CUDA), soft-NMS single-scale test. Batch size 32 = 8 GPUs x 4 images.

_base_ = ['_base_/models/mask_rcnn_convnextv2.py', '_base_/datasets/coco_lsj.py', '_base_/schedules/coco_3x_lsj.py']
backbone = dict(arch='atto', drop_path_rate=0.2, init_cfg=dict(checkpoint={{_base_.weights.v2_atto_fcmae}}))
model = dict(backbone=backbone, neck=dict(in_channels=[40, 80, 160, 320]))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.95, num_layers=6))
