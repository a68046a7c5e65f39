"""UperNet, ConvNeXt-T (ImageNet-1K), ADE20K 512x512, 160k iterations, batch 16 (8 GPUs x 2).

Backbone ConvNeXt arch 'tiny', drop path 0.4; AdamW lr 1e-4, stage-wise layer decay 0.9 over 6 layers;
mixed precision (fp16, as the official run). Sliding-window test, crop 512 stride 341; multi-scale + flip test with
``tools/test.py --tta`` (see the dataset base).
Paper: 46.7 mIoU multi-scale (Table 4), 46.0 single-scale (Table 7); 60M params, 939 GFLOPs at 2048x512.
"""

_base_ = ['./_base_/seg_upernet_convnext_160k.py', './_base_/seg_ade20k_512.py']

crop_size = (512, 512)
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='convnext.ConvNeXt',
        arch='tiny',
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,  # the official segmentation code, not the 1e-6 of classification
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)),
)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    paramwise_cfg=dict(num_layers=6),
)
train_cfg = dict(max_iters=160000)
train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images = batch 16
