"""UperNet, ConvNeXt V2-B (FCMAE + ImageNet-1K fine-tuning), ADE20K 512x512, 160k iterations, batch 16 (8 GPUs x 2).

Backbone ConvNeXtV2 arch 'base', drop path 0.3; AdamW lr 1e-4, stage-wise layer decay 0.9 over 12 layers;
mixed precision (fp16, like V1 up to B). Sliding-window test, crop 512 stride 341; multi-scale + flip test with
``tools/test.py --tta`` (see the dataset base).
V2 paper Table 7: 52.1 mIoU (multi-scale); 122M params, 1170 GFLOPs.
"""

_base_ = ['./_base_/seg_upernet_convnext_160k.py', './_base_/seg_ade20k_512_v2.py']

# The V2 paper (appendix A.4) sweeps lr {1e-4, 2e-4, 3e-4}, layer decay {0.8, 0.9} and drop path
# {0.1, 0.2, 0.3, 0.4} without naming the winners; we take lr 1e-4 and decay 0.9 (the V1 values) and
# drop path growing with depth and width: T 0.2, B 0.3, L 0.4, H 0.4.
crop_size = (512, 512)
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_base_1k_224_ema.pt'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='convnext.ConvNeXtV2',
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)),
)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    paramwise_cfg=dict(num_layers=12),
)
train_cfg = dict(max_iters=160000)
train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images = batch 16
