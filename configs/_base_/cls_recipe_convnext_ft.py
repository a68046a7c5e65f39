# Fine-tuning recipe of ConvNeXt from pre-trained weights (ConvNeXt paper,
# appendix Table 6; ConvNeXt V2 paper, appendix Tables 12 and 13).
# The leaf configs state backbone (arch, drop path, checkpoint), batch size,
# learning rate, layer decay, epochs and schedule; this base holds what every
# fine-tuning run shares: the classifier with a small head init, AdamW with
# layer-wise learning-rate decay and the official no-decay rule, no Mixup or
# CutMix (no ``model.train_cfg``) and no EMA (leaves that use them add them).
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py']

model = dict(
    type='ImageClassifier',
    # The backbone pools, then applies its final LayerNorm: (N, C) vectors,
    # the official head layout (norm after global average pooling).
    backbone=dict(type='convnext.ConvNeXt', arch='tiny', out_type='avg', drop_path_rate=0.0),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        # head init scale 0.001 on a trunc-normal(0.02) init: std 0.02 * 0.001.
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5, bias=0.0),
    ),
)

# Layer decay: lr * decay_rate ** (num_layers + 1 - layer_id). The official
# no-decay rule (1-D, biases, layer scale and GRN gamma/beta) is built into
# the constructor.
optim_wrapper = dict(
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=1e-8, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(_delete_=True, decay_rate=0.8, decay_type='group'),
)

custom_hooks = []

auto_scale_lr = dict(base_batch_size=512)
