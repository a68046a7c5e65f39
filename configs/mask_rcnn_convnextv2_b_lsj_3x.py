# Mask R-CNN 3x, backbone ConvNeXt-V2-Base (FCMAE ImageNet-1K pre-training), V2 paper
# recipe (appendix A.3): large-scale jitter 1024 (scale 0.1-2.0), 36 epochs (steps 27/33), AdamW
# lr 1e-4 wd 0.05, layer-wise decay 0.95 over 12 layers, drop path 0.4 (picked from the paper's
# sweeps), fp16 (AMP on CUDA), soft-NMS single-scale test. Batch size 32 = 8 GPUs x 4 images.
_base_ = ['./_base_/det_mask_rcnn_convnextv2_lsj_3x.py']

pretrained = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_base_1k_224_fcmae.pt'
model = dict(
    backbone=dict(
        _delete_=True,
        type='convnext.ConvNeXtV2',
        arch='base',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    neck=dict(in_channels=[128, 256, 512, 1024]),
)

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=1e-4),
)
auto_scale_lr = dict(base_batch_size=32)
