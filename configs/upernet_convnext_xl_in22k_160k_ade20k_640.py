# UperNet, ConvNeXt-XL (ImageNet-22K), ADE20K 640x640, 160k iterations, batch 16 (8 GPUs x 2).
#
# Backbone ConvNeXt arch 'xlarge', drop path 0.4; AdamW lr 8e-5, stage-wise layer decay 0.9 over 12 layers;
# fp32 (as the official run). Sliding-window test, crop 640 stride 426; multi-scale + flip test with
# ``tools/test.py --tta`` (see the dataset base).
# Paper: 54.0 mIoU multi-scale (Table 4), 53.6 single-scale (Table 7); 391M params, 3335 GFLOPs at 2560x640.

_base_ = ['_base_/models/upernet_convnext.py', '_base_/datasets/ade20k_640.py', '_base_/schedules/ade20k_160k.py']
backbone = dict(arch='xlarge', drop_path_rate=0.4, init_cfg=dict(checkpoint={{_base_.weights.xlarge_22k}}))
heads = dict(decode_head=dict(in_channels=[256, 512, 1024, 2048]), auxiliary_head=dict(in_channels=1024))
model = dict(backbone=backbone, data_preprocessor={{_base_.preprocessor}}, test_cfg={{_base_.slide_test_cfg}}, **heads)
optim_wrapper = dict(optimizer=dict(lr=8e-5))
