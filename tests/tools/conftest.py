"""Fixtures of the tools' tests: a tiny classification config over a generated image folder."""

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

NUM_CLASSES = 2
IMAGES_PER_CLASS = 4
IMAGE_SIZE = 32

TINY_CLS_CONFIG = """
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='convnext.ConvNeXtV2', arch=dict(depths=[1, 1], channels=[8, 16]), out_type='avg'),
    head=dict(type='LinearClsHead', num_classes={num_classes}, in_channels=16,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
data_preprocessor = dict(num_classes={num_classes}, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(type='CustomDataset', data_root='{data_root}', pipeline=pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(type='CustomDataset', data_root='{data_root}', pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1),
    logger=dict(type='LoggerHook', interval=1),
    visualization=dict(type='VisualizationHook', enable=False))
visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
env_cfg = dict(dist_cfg=dict(backend='gloo'))
"""


@pytest.fixture(scope='session')
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny mmpretrain config over a generated two-class image folder."""
    root = tmp_path_factory.mktemp('tiny_cls')
    rng = np.random.default_rng(0)
    for label in range(NUM_CLASSES):
        folder = root / 'data' / f'class_{label}'
        folder.mkdir(parents=True)
        for i in range(IMAGES_PER_CLASS):
            pixels = rng.integers(0, 64, (IMAGE_SIZE, IMAGE_SIZE, 3)) + 128 * label
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f'{i}.png')
    config = root / 'tiny_cls.py'
    config.write_text(TINY_CLS_CONFIG.format(num_classes=NUM_CLASSES, data_root=root / 'data'))
    return config


@pytest.fixture(scope='module')
def train(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    """``tools/train.py`` imported as a module (its ``main(argv)`` runs in this process)."""
    return load_tool('tools/train.py')


@pytest.fixture(scope='module')
def test_tool(load_tool: Callable[[str], ModuleType]) -> ModuleType:
    """``tools/test.py`` imported as a module."""
    return load_tool('tools/test.py')
