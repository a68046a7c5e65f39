"""The ADE20K schedule of the official ConvNeXt segmentation configs (BEiT-seg codebase; mmseg's ``configs/convnext``):
160k iterations, 1500 linear warm-up iterations from 1e-6, then poly (power 1) to 0; AdamW lr 1e-4 (betas
0.9/0.999, weight decay 0.05) with stage-wise layer decay 0.9 (``num_layers`` 6 for T, 12 for the 27-block sizes:
leaves set it); fp32 (the L/XL runs; T/S/B leaves train in fp16 as the official ones); batch 16 = 8 GPUs x 2."""

_base_ = ['mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py']

warmup_iters = 1500
max_iters = 160000
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
# The recipes' total batch, 8 GPUs x 2 images: tools/train.py compares the run's with it (--accumulate, --auto-scale-lr).
auto_scale_lr = dict(enable=False, base_batch_size=16)
