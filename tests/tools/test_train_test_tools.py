"""tools/train.py, tools/test.py and tools/dist_train.sh on a tiny generated classification set."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
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


@pytest.fixture(scope='module')
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


def run_tool(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs a tool from the repository root, without CUDA."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    return subprocess.run([*args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_train_resume_and_test(tiny_config: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    result = run_tool(PYTHON, 'tools/train.py', str(tiny_config), '--work-dir', str(work_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work_dir / 'epoch_2.pth').is_file()
    log = result.stdout + result.stderr
    assert 'AmpOptimWrapper -> OptimWrapper' in log

    # Resuming an mmengine checkpoint needs its globals allowlisted for torch.load(weights_only=True).
    result = run_tool(
        PYTHON, 'tools/train.py', str(tiny_config), '--work-dir', str(work_dir),
        '--resume', str(work_dir / 'epoch_1.pth'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'resumed epoch: 1' in result.stdout + result.stderr

    result = run_tool(
        PYTHON, 'tools/test.py', str(tiny_config), str(work_dir / 'epoch_2.pth'),
        '--work-dir', str(work_dir), '--out', str(tmp_path / 'preds.pkl'), '--show-dir', str(tmp_path / 'vis'),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'accuracy/top1: [0-9.]+', result.stdout + result.stderr)
    assert (tmp_path / 'preds.pkl').is_file()
    assert list((tmp_path / 'vis').rglob('*.png'))  # drawn predictions


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tiny_config: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / 'dist'
    env_port = str(29500 + os.getpid() % 1000)
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(tiny_config), '2', '--work-dir', str(work_dir)],
        cwd=ROOT,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES='', PORT=env_port, PYTHON=PYTHON),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    # 8 images, 2 per process and step: each of the 2 processes runs 2 steps an epoch.
    assert 'Epoch(train) [2][2/2]' in log and '[1][3/' not in log
    assert 'convnext.CPUDistributedDataParallel' in log
    checkpoint = work_dir / 'epoch_2.pth'
    assert checkpoint.is_file()

    result = subprocess.run(
        ['bash', 'tools/dist_test.sh', str(tiny_config), str(checkpoint), '2', '--work-dir', str(work_dir)],
        cwd=ROOT,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES='', PORT=env_port, PYTHON=PYTHON),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'GPU number: 2' in log and re.search(r'accuracy/top1: [0-9.]+', log)


@pytest.mark.parametrize(
    'args, message',
    [
        (['tools/train.py', 'configs/no_such_config.py'], 'config file not found: configs/no_such_config.py'),
        (['tools/train.py', '{config}', '--launcher', 'mpi2'], "unknown launcher 'mpi2'"),
        (['tools/train.py', '{scope_config}'], "default_scope 'mmnothing', but no package 'mmnothing'"),
        (['tools/train.py', '{config}', '--cfg-options', 'train_dataloader.dataset.data_root=/no/data'],
         "data root '/no/data' does not exist (train_dataloader.dataset.data_root in"),
        (['tools/test.py', '{config}', '/no/ckpt.pth'], 'checkpoint not found: /no/ckpt.pth'),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line(tiny_config: Path, tmp_path: Path, args: list[str], message: str) -> None:
    scope_config = tmp_path / 'scope.py'
    scope_config.write_text(f"_base_ = ['{tiny_config}']\ndefault_scope = 'mmnothing'\n")
    args = [arg.format(config=tiny_config, scope_config=scope_config) for arg in args]
    result = run_tool(PYTHON, *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-2000:]
    assert message in lines[0]


@pytest.mark.parametrize('script', ['tools/dist_train.sh', 'tools/dist_test.sh', 'tools/slurm_train.sh'])
def test_launch_scripts_need_their_arguments(script: str) -> None:
    result = run_tool('bash', script)
    assert result.returncode == 2 and 'usage:' in result.stderr


def test_unreachable_pretrained_url_names_it_and_the_fix(tiny_config: Path, tmp_path: Path) -> None:
    url = 'http://127.0.0.1:9/convnext_tiny_1k_224.pth'
    result = run_tool(
        PYTHON, 'tools/train.py', str(tiny_config), '--work-dir', str(tmp_path),
        '--cfg-options', 'model.backbone.init_cfg.type=Pretrained', f'model.backbone.init_cfg.checkpoint={url}',
    )  # fmt: skip
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('error: Could not download the checkpoint ' + url)
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in last
