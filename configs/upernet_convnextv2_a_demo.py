# Demo: UperNet, ConvNeXt V2-Atto (random init), synthetic ADE20K-format data, 96x96 crops, on the CPU.
#
# Backbone ConvNeXtV2 arch 'atto' from scratch (nothing can be downloaded); UperNet and FCN heads narrowed to
# 64 and 32 channels. Schedule: 400 iterations (60 warm-up, then poly), batch 4 on one process; AdamW lr 2e-3
# without layer decay (decay_rate 1: a backbone trained from scratch learns at the full rate). Data: 5 classes,
# 128x128 images written by ``tools/demos/synthetic_ade.py`` under ``data_root``, read by mmseg's
# ``BaseSegDataset`` with ``reduce_zero_label=True`` as ADE20K is; tested on whole 128x128 images.
# ``python tools/demo.py segmentation`` writes the data, then trains and tests with this config; the test
# metric is mmseg's ``IoUMetric`` (mIoU).

_base_ = ['_base_/models/upernet_convnextv2.py', '_base_/datasets/ade20k_512.py', '_base_/schedules/ade20k_160k.py']
tta_pipeline = {{_base_.tta_pipelines.v2_512}}

data_root = 'data/synthetic_ade'
classes = ('ground', 'disc', 'box', 'triangle', 'ring')
palette = [[120, 110, 90], [220, 50, 40], [40, 170, 60], [50, 80, 220], [230, 200, 40]]
crop_size = (96, 96)
test_scale = (128, 128)
max_iters = 400
warmup_iters = 60
batch_size = 4

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(type='convnext.ConvNeXtV2', arch='atto', drop_path_rate=0.0, init_cfg=None),
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=64, num_classes=len(classes)),
    auxiliary_head=dict(in_channels=160, channels=32, num_classes=len(classes)),
    test_cfg=dict(mode='whole'),
)
optim_wrapper = dict(
    optimizer=dict(lr=2e-3),
    paramwise_cfg=dict(decay_rate=1.0, num_layers=6),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(base_batch_size=batch_size)  # one process

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=test_scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=dict(classes=classes, palette=palette),
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True,
)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**dataset, pipeline=train_pipeline),
)
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**dataset, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(interval=20), visualization=dict(interval=1))
