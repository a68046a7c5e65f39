# UperNet, ConvNeXt-S (ImageNet-1K), ADE20K 512x512, 160k iterations, batch 16 (8 GPUs x 2).
#
# Backbone ConvNeXt arch 'small', drop path 0.3; AdamW lr 1e-4, stage-wise layer decay 0.9 over 12 layers;
# mixed precision (fp16, as the official run). Sliding-window test, crop 512 stride 341; multi-scale + flip test with
# ``tools/test.py --tta`` (see the dataset base).
# Paper: 49.6 mIoU multi-scale (Table 4), 48.7 single-scale (Table 7); 82M params, 1027 GFLOPs at 2048x512.

_base_ = ['_base_/models/upernet_convnext.py', '_base_/datasets/ade20k_512.py', '_base_/schedules/ade20k_160k.py']
backbone = dict(arch='small', drop_path_rate=0.3, init_cfg=dict(checkpoint={{_base_.weights.small_1k}}))
heads = dict(decode_head=dict(in_channels=[96, 192, 384, 768]), auxiliary_head=dict(in_channels=384))
model = dict(backbone=backbone, data_preprocessor={{_base_.preprocessor}}, test_cfg={{_base_.slide_test_cfg}}, **heads)
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
