# ConvNeXt V2-L, ImageNet-1K fine-tuning at 384x384 of the IN-22K intermediate fine-tuned
# model (step 3 of FCMAE -> IN-22K -> IN-1K).
# Backbone: convnext.ConvNeXtV2 arch='large', drop path 0.3, initialised from the last checkpoint of
# convnextv2_l_fcmae-in1k-ft_90e_in22k.py (the official 21841-class weights are not released);
# new head with init scale 0.001.
# Schedule: 30 epochs, no warm-up, cosine, AdamW base lr 2.5e-5 (lr 5e-5 = 2.5e-5 x 512 / 256), wd 1e-8, layer decay 0.8 (12 groups),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, EMA 0.9999;
# test: resize to 384x384, no crop.
# The V2 tables give base lrs (lr = base lr x batch / 256, ConvNeXt-V2 main_finetune.py): the table's value is
# not the optimizer's lr.
# Batch: 512 (32 GPUs x 16). Source: ConvNeXt V2 paper, appendix Table 13.

_base_ = ['_base_/models/convnextv2_ft.py', '_base_/datasets/imagenet_384.py', '_base_/schedules/imagenet_ft_30e.py']
backbone = dict(arch='large', drop_path_rate=0.3, init_cfg=dict(checkpoint={{_base_.weights.v2_large_in22k}}))
model = dict(backbone=backbone, head=dict(in_channels=1536))
train_dataloader = dict(batch_size=16)  # 32 GPUs x 16 = 512
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]  # EMA 0.9999
