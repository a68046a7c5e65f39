# Cascade Mask R-CNN 3x, backbone ConvNeXt-V2-Large (FCMAE ImageNet-1K pre-training): the V1
# cascade recipe (multi-scale 480-800 + crop, 4conv1fc GIoU heads, 36 epochs, steps 27/33) with the V2
# optimiser: AdamW lr 1e-4, layer-wise decay 0.9 over 12 layers, drop path 0.5, fp32 (like the official V1 L/XL
# COCO configs; fp16 until this fix).
# Not released officially. Batch size 16 = 8 GPUs x 2 images.
_base_ = ['./_base_/det_cascade_mask_rcnn_4conv1fc_giou.py', './_base_/det_convnext_ms_crop_3x.py']

pretrained = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_large_1k_224_fcmae.pt'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext.ConvNeXtV2',
        arch='large',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    neck=dict(in_channels=[192, 384, 768, 1536]),
)

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    type='OptimWrapper',  # fp32, as every official L/XL detection and segmentation run
    paramwise_cfg=dict(decay_rate=0.9, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=1e-4),
)
auto_scale_lr = dict(base_batch_size=16)
