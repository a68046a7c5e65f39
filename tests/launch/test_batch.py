"""Recipe batch against actual batch: the start-up line, ``--accumulate`` and its bad input."""

import argparse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from convnext.exceptions import ConfigError
from convnext.launch import parse_accumulate, plan_batch, stretch_iterations, world_size

ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/x.py'


def _cfg(batch: int = 128, recipe: int | None = 4096, iteration_based: bool = False) -> Config:
    cfg = Config(
        dict(
            train_dataloader=dict(batch_size=batch),
            optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=4e-3)),
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=100)
            if iteration_based
            else dict(by_epoch=True, max_epochs=300),
            param_scheduler=[
                dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
                dict(type='CosineAnnealingLR', by_epoch=True, begin=20, end=300, convert_to_iter_based=True),
                dict(type='MultiStepLR', by_epoch=False, milestones=[600, 900]),
            ],
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200)),
        )
    )
    if recipe is not None:
        cfg.auto_scale_lr = dict(base_batch_size=recipe)
    return cfg


def test_statement_names_recipe_actual_and_the_lr() -> None:
    _, line = plan_batch(_cfg(), 32, None, False, CONFIG)
    assert line.startswith('Batch: recipe 4096 (auto_scale_lr.base_batch_size), actual 4096 = 32 processes x 128')
    assert line.endswith('the recipe lr applies as is')
    _, line = plan_batch(_cfg(), 8, None, False, CONFIG)
    assert 'actual 1024 = 8 processes x 128 per process x 1 accumulated iterations' in line
    assert 'lr is NOT changed' in line and '0.25x batch' in line and '--accumulate auto' in line
    _, line = plan_batch(_cfg(), 8, None, True, CONFIG)
    assert line.endswith('lr scaled by 1024/4096 (--auto-scale-lr)')
    _, line = plan_batch(_cfg(recipe=None), 8, None, False, CONFIG)
    assert 'states no recipe batch' in line


def test_accumulate_auto_keeps_the_recipe_batch() -> None:
    cfg = _cfg()
    planned, line = plan_batch(cfg, 8, 'auto', False, CONFIG)
    assert planned.optim_wrapper.accumulative_counts == 4
    assert 'actual 4096 = 8 processes x 128 per process x 4 accumulated iterations' in line
    assert 'recipe lr applies as is' in line
    assert 'accumulative_counts' not in cfg.optim_wrapper  # the argument is not modified
    # Epoch-based parts are untouched; the iteration-counted warm-up and steps stretch with the accumulation.
    warmup, cosine, steps = planned.param_scheduler
    assert (warmup.begin, warmup.end, steps.milestones) == (0, 200, [2400, 3600])
    assert (cosine.begin, cosine.end) == (20, 300) and planned.train_cfg.max_epochs == 300


def test_accumulate_stretches_an_iteration_based_run() -> None:
    planned = stretch_iterations(_cfg(iteration_based=True), 2)
    assert (planned.train_cfg.max_iters, planned.train_cfg.val_interval) == (2000, 200)
    assert planned.default_hooks.checkpoint.interval == 400


def test_explicit_accumulation_count() -> None:
    planned, line = plan_batch(_cfg(), 8, 2, False, CONFIG)
    assert planned.optim_wrapper.accumulative_counts == 2
    assert 'actual 2048' in line and '0.5x batch' in line


@pytest.mark.parametrize(
    ('cfg', 'processes', 'auto_scale_lr', 'message'),
    [
        (
            _cfg(batch=96),
            8,
            False,
            'recipe batch 4096 (auto_scale_lr.base_batch_size in configs/x.py) is not a '
            'multiple of the actual batch 768 = 8 processes x 96 per process; use --auto-scale-lr',
        ),
        (_cfg(batch=96), 8, False, 'e.g. --cfg-options train_dataloader.batch_size=64'),
        (_cfg(batch=128), 3, False, 'not a multiple of the actual batch 384'),
        (_cfg(recipe=None), 8, False, '--accumulate needs the recipe batch auto_scale_lr.base_batch_size in '),
        (_cfg(), 8, True, '--accumulate and --auto-scale-lr are alternatives'),
    ],
)
def test_accumulate_bad_input(cfg: Config, processes: int, auto_scale_lr: bool, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        plan_batch(cfg, processes, 'auto', auto_scale_lr, CONFIG)
    assert message in str(error.value)
    assert '\n' not in str(error.value)


def test_accumulate_on_a_config_that_accumulates() -> None:
    cfg = _cfg()
    cfg.optim_wrapper.accumulative_counts = 2
    with pytest.raises(ConfigError, match='already accumulates optim_wrapper.accumulative_counts=2'):
        plan_batch(cfg, 8, 'auto', False, CONFIG)


def test_parse_accumulate_and_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_accumulate('auto') == 'auto' and parse_accumulate('4') == 4
    for bad in ('0', '-2', 'yes'):
        with pytest.raises(argparse.ArgumentTypeError, match='expected'):
            parse_accumulate(bad)
    monkeypatch.setenv('WORLD_SIZE', '4')
    assert world_size('pytorch') == 4 and world_size('none') == 1
    monkeypatch.delenv('WORLD_SIZE')
    monkeypatch.setenv('SLURM_NTASKS', '16')
    assert world_size('slurm') == 16


TINY_CONFIG = """
default_scope = 'mmpretrain'
model = dict(type='ImageClassifier',
             backbone=dict(type='convnext.ConvNeXtV2', arch=dict(depths=[1, 1], channels=[8, 16]), out_type='avg'),
             head=dict(type='LinearClsHead', num_classes=2, in_channels=16, loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(num_classes=2, mean=[127.5] * 3, std=[127.5] * 3)
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(type='CustomDataset', data_root='{root}',
                                     pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
train_cfg = dict(by_epoch=True, max_epochs=1)
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))
"""


def test_train_states_the_batch_and_accumulates(
    load_tool: Callable[[str], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture, one_thread: None
) -> None:
    """``tools/train.py --accumulate auto`` on one process: the recipe's 4 images per step as 2 x 2 iterations."""
    for label in range(2):
        folder = tmp_path / 'data' / f'class_{label}'
        folder.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((16, 16, 3), 100 * label + i, np.uint8)).save(folder / f'{i}.png')
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_CONFIG.replace('{root}', str(tmp_path / 'data')))
    train = load_tool('tools/train.py')
    work_dir = tmp_path / 'work'
    assert train.main([str(config), '--work-dir', str(work_dir), '--accumulate', 'auto']) == 0
    (log,) = work_dir.glob('*/*.log')
    expected = 'Batch: recipe 4 (auto_scale_lr.base_batch_size), actual 4 = 1 processes x 2 per process x 2 accumulated'
    assert expected in log.read_text()
    with pytest.raises(SystemExit):
        train.parse_args([str(config), '--accumulate', 'sometimes'])
    assert "argument --accumulate: expected 'auto' or a positive integer, got 'sometimes'" in capsys.readouterr().err
