# Supervised ImageNet training recipe of ConvNeXt, from random initialisation
# (ConvNeXt paper, appendix Table 5; facebookresearch/ConvNeXt main.py).
# The leaf configs state backbone (arch, drop path, layer scale), batch size,
# learning rate, epochs and schedule; this base holds what every such run
# shares: the classifier, AdamW with the official no-decay rule, Mixup/CutMix
# and EMA.
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py']

model = dict(
    type='ImageClassifier',
    # The backbone pools, then applies its final LayerNorm: (N, C) vectors,
    # the official head layout (norm after global average pooling).
    backbone=dict(type='convnext.ConvNeXt', arch='tiny', out_type='avg', drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
    ),
    # timm Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5): one of
    # the two per batch, with equal probability.
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

# AdamW, betas (0.9, 0.999); no weight decay on 1-D parameters (LayerNorm
# weights and biases, layer scale), on biases, nor on the 4-D GRN gamma/beta
# (official facebookresearch/ConvNeXt rule plus the facebookresearch/ConvNeXt-V2 GRN fix).
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'.grn.': dict(decay_mult=0.0)},
    ),
)

# EMA of the weights with decay 0.9999 per optimizer step (mmengine momentum =
# 1 - decay); validation uses the EMA weights.
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]

auto_scale_lr = dict(base_batch_size=4096)
