# UperNet, ConvNeXt-B (ImageNet-1K), ADE20K 512x512, 160k iterations, batch 16 (8 GPUs x 2).
#
# Backbone ConvNeXt arch 'base', drop path 0.4; AdamW lr 1e-4, stage-wise layer decay 0.9 over 12 layers;
# mixed precision (fp16, as the official run). Sliding-window test, crop 512 stride 341; multi-scale + flip test with
# ``tools/test.py --tta`` (see the dataset base).
# Paper: 49.9 mIoU multi-scale (Table 4), 49.1 single-scale (Table 7); 122M params, 1170 GFLOPs at 2048x512.

_base_ = ['_base_/models/upernet_convnext.py', '_base_/datasets/ade20k_512.py', '_base_/schedules/ade20k_160k.py']
backbone = dict(arch='base', drop_path_rate=0.4, init_cfg=dict(checkpoint={{_base_.weights.base_1k}}))
heads = dict(decode_head=dict(in_channels=[128, 256, 512, 1024]), auxiliary_head=dict(in_channels=512))
model = dict(backbone=backbone, data_preprocessor={{_base_.preprocessor}}, test_cfg={{_base_.slide_test_cfg}}, **heads)
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
