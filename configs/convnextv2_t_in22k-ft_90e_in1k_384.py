# ConvNeXt V2-T, ImageNet-1K fine-tuning at 384x384 of the IN-22K intermediate fine-tuned
# model (step 3 of FCMAE -> IN-22K -> IN-1K).
# Backbone: convnext.ConvNeXtV2 arch='tiny', drop path 0.1, initialised from the last checkpoint of
# convnextv2_t_fcmae-in1k-ft_90e_in22k.py (the official 21841-class weights are not released);
# new head with init scale 0.001.
# Schedule: 90 epochs, no warm-up, cosine, AdamW base lr 2.5e-5 (lr 5e-5 = 2.5e-5 x 512 / 256), wd 1e-8, layer decay 0.9 (per block),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, EMA 0.9999;
# test: resize to 384x384, no crop.
# The V2 tables give base lrs (lr = base lr x batch / 256, ConvNeXt-V2 main_finetune.py): the table's value is
# not the optimizer's lr.
# Batch: 512 (32 GPUs x 16). Source: ConvNeXt V2 paper, appendix Table 13.

_base_ = ['_base_/models/convnextv2_ft.py', '_base_/datasets/imagenet_384.py', '_base_/schedules/imagenet_ft_90e.py']
backbone = dict(arch='tiny', drop_path_rate=0.1, init_cfg=dict(checkpoint={{_base_.weights.v2_tiny_in22k}}))
model = dict(backbone=backbone, head=dict(in_channels=768))
train_dataloader = dict(batch_size=16)  # 32 GPUs x 16 = 512
