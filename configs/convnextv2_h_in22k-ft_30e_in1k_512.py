# ConvNeXt V2-H, ImageNet-1K fine-tuning at 512x512 of the IN-22K intermediate fine-tuned
# model (step 3 of FCMAE -> IN-22K -> IN-1K).
# Backbone: convnext.ConvNeXtV2 arch='huge', drop path 0.5, initialised from the last checkpoint of
# convnextv2_h_fcmae-in1k-ft_90e_in22k.py (the official 21841-class weights are not released);
# new head with init scale 0.001.
# Schedule: 30 epochs, no warm-up, cosine, AdamW base lr 2.5e-5 (lr 5e-5 = 2.5e-5 x 512 / 256), wd 1e-8, layer decay 0.85 (per block),
# RandAugment (9, 0.5), no Mixup/CutMix, random erasing 0.25, label smoothing 0.1, no EMA;
# test: resize to 512x512, no crop.
# The V2 tables give base lrs (lr = base lr x batch / 256, ConvNeXt-V2 main_finetune.py): the table's value is
# not the optimizer's lr.
# Batch: 512 (64 GPUs x 8). Source: ConvNeXt V2 paper, appendix Table 13.

_base_ = ['_base_/models/convnextv2_ft.py', '_base_/datasets/imagenet_384.py', '_base_/schedules/imagenet_ft_30e.py']
backbone = dict(arch='huge', drop_path_rate=0.5, init_cfg=dict(checkpoint={{_base_.weights.v2_huge_in22k}}))
model = dict(backbone=backbone, head=dict(in_channels=2816))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.85, decay_type='single'))
train_dataloader = dict(batch_size=8, dataset=dict(pipeline={{_base_.pipelines.train_512}}))  # 64 GPUs x 8 = 512
val_dataloader = dict(dataset=dict(pipeline={{_base_.pipelines.test_512}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.pipelines.test_512}}))
