# Mask R-CNN 3x, backbone ConvNeXt-V2-Huge (FCMAE ImageNet-1K pre-training), V2 paper
# recipe (appendix A.3): large-scale jitter 1024 (scale 0.1-2.0), 36 epochs (steps 27/33), AdamW
# lr 1e-4 wd 0.05, layer-wise decay 0.9 over 12 layers, drop path 0.5 (picked from the paper's
# sweeps), fp32 (like the official V1 L/XL COCO configs; fp16
# until this fix), soft-NMS single-scale test. Batch size 32 = 8 GPUs x 4 images.
_base_ = ['./_base_/det_mask_rcnn_convnextv2_lsj_3x.py']

pretrained = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_huge_1k_224_fcmae.pt'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext.ConvNeXtV2',
        arch='huge',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    neck=dict(in_channels=[352, 704, 1408, 2816]),
)

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    type='OptimWrapper',  # fp32, as every official L/XL detection and segmentation run
    paramwise_cfg=dict(decay_rate=0.9, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=1e-4),
)
auto_scale_lr = dict(base_batch_size=32)
