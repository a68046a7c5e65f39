# FCMAE pretraining, backbone ConvNeXt V2-Large, 1600 epochs (40 warm-up), batch 4096 (64 x 64 GPUs), ImageNet-1K.
# The 800-epoch recipe with a longer schedule (the name says so, hence the leaf-on-leaf inheritance).
_base_ = ['./fcmae_convnextv2_l_800e_in1k.py']

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR', T_max=1560, eta_min=0.0, by_epoch=True, begin=40, end=1600, convert_to_iter_based=True
    ),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1600)
