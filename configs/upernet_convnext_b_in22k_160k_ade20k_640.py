"""UperNet, ConvNeXt-B (ImageNet-22K), ADE20K 640x640, 160k iterations, batch 16 (8 GPUs x 2).

Backbone ConvNeXt arch 'base', drop path 0.4; AdamW lr 1e-4, stage-wise layer decay 0.9 over 12 layers;
mixed precision (fp16, as the official run). Sliding-window test, crop 640 stride 426; multi-scale + flip test with
``tools/test.py --tta`` (see the dataset base).
Paper: 53.1 mIoU multi-scale (Table 4), 52.6 single-scale (Table 7); 122M params, 1828 GFLOPs at 2560x640.
"""

_base_ = ['./_base_/seg_upernet_convnext_160k.py', './_base_/seg_ade20k_640.py']

crop_size = (640, 640)
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_224.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='convnext.ConvNeXt',
        arch='base',
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,  # the official segmentation code, not the 1e-6 of classification
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)),
)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    paramwise_cfg=dict(num_layers=12),
)
train_cfg = dict(max_iters=160000)
train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images = batch 16
