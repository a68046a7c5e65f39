"""UperNet + ConvNeXt V1/V2 on ADE20K, 160k iterations: what every leaf shares.

The settings of the official ConvNeXt segmentation code (BEiT-seg codebase,
``semantic_segmentation/configs/convnext``) and of mmseg 1.x's
``configs/convnext``: UperNet (pool scales 1, 2, 3, 6; 512 channels) with an
auxiliary FCN head on stage 3 (loss weight 0.4), SyncBN heads, AdamW (lr 1e-4,
betas 0.9/0.999, weight decay 0.05) with stage-wise layer decay 0.9, poly
schedule (power 1, min lr 0) after a 1500-iteration linear warm-up from 1e-6,
160k iterations. A leaf adds the dataset base (crop size, TTA), the backbone
(arch, drop path, weights), the head widths, the decay depth (6 for T, 12 for
larger), the test window and the batch size.
"""

_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]

num_classes = 150
warmup_iters = 1500
max_iters = 160000

model = dict(
    pretrained=None,
    backbone=dict(_delete_=True, type='convnext.ConvNeXt', out_indices=[0, 1, 2, 3]),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes),
)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='convnext.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters)
# The recipes' total batch, 8 GPUs x 2 images (leaves set the per-GPU batch): tools/train.py compares the run's with it
# (--accumulate auto, --auto-scale-lr).
auto_scale_lr = dict(enable=False, base_batch_size=16)
